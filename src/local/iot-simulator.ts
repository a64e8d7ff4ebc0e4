import { randomUUID } from "node:crypto";
import {
  DescribeCACertificateCommand,
  type IoTClient,
  RegisterCACertificateCommand,
  RegisterCertificateCommand,
} from "@aws-sdk/client-iot";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import type { Issuer } from "./dev-pki.js";

/**
 * What IoT Core does around a device's first connection, for the local stack and the tests:
 * register a CA with auto-registration, register a device certificate PENDING_ACTIVATION the
 * way JITR does, and publish the JITR message, delivered as SQS would deliver it.
 */
export const ACCOUNT_ID = "123456789012";

export const registerCa = async (iot: IoTClient, ca: Issuer): Promise<string> => {
  const out = await iot.send(
    new RegisterCACertificateCommand({
      caCertificate: ca.pem,
      setAsActive: true,
      allowAutoRegistration: true,
    }),
  );
  if (!out.certificateId) throw new Error("RegisterCACertificate returned no id");
  await iot.send(new DescribeCACertificateCommand({ certificateId: out.certificateId }));
  return out.certificateId;
};

export interface JitrMessage {
  certificateId: string;
  caCertificateId: string;
  timestamp: number | string;
  certificateStatus: "PENDING_ACTIVATION";
  awsAccountId: string;
  certificateRegistrationTimestamp: string | number;
}

/** A device's first MQTT connect: IoT Core registers its certificate and publishes this message. */
export const firstConnect = async (
  iot: IoTClient,
  device: { pem: string },
  ca: { pem: string; caCertificateId: string },
): Promise<JitrMessage> => {
  const out = await iot.send(
    new RegisterCertificateCommand({
      certificatePem: device.pem,
      caCertificatePem: ca.pem,
      status: "PENDING_ACTIVATION",
    }),
  );
  if (!out.certificateId) throw new Error("RegisterCertificate returned no id");
  const now = Date.now();
  return {
    certificateId: out.certificateId,
    caCertificateId: ca.caCertificateId,
    timestamp: now,
    certificateStatus: "PENDING_ACTIVATION",
    awsAccountId: ACCOUNT_ID,
    certificateRegistrationTimestamp: String(now),
  };
};

/** An SQS event carrying the given bodies, as the JITR queue delivers them to the Lambda. */
export const sqsEvent = (bodies: readonly (object | string)[]): SQSEvent => ({
  Records: bodies.map(
    (body): SQSRecord => ({
      messageId: randomUUID(),
      receiptHandle: randomUUID(),
      body: typeof body === "string" ? body : JSON.stringify(body),
      attributes: {
        ApproximateReceiveCount: "1",
        SentTimestamp: String(Date.now()),
        SenderId: "AIDAIOTCORE",
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: "",
      eventSource: "aws:sqs",
      eventSourceARN: `arn:aws:sqs:us-east-1:${ACCOUNT_ID}:fleetgate-jitr`,
      awsRegion: "us-east-1",
    }),
  ),
});
