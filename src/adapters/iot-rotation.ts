import { CreateCertificateFromCsrCommand, CreateJobCommand, type IoTClient } from "@aws-sdk/client-iot";
import { type IoTDataPlaneClient, PublishCommand } from "@aws-sdk/client-iot-data-plane";
import type { CertificateIssuer, DeviceJobs, DeviceMessages } from "#app/ports.js";
import { DependencyUnavailableError } from "#domain/errors.js";
import { type CertificateId, isCertificateId } from "#domain/ids.js";
import { call } from "./aws-errors.js";
import { type IotPacer, pacedCall } from "./iot-budget.js";
import { ignoreAlreadyExists } from "./iot-registry.js";

/**
 * IoT Core as rotation uses it: the issuer of new certificates, IoT Jobs to tell devices to rotate,
 * and the data plane to answer a device on its own topics. Control-plane calls take their slot of
 * the deployment's IoT budget, as the registry's do.
 */

/**
 * IoT Core's own CA (CreateCertificateFromCsr): the certificate is INACTIVE until rotation attaches
 * it. An operator's private CA would implement the same port (sign, then RegisterCertificate).
 */
export const iotCertificateIssuer = (iot: IoTClient, pacer?: IotPacer): CertificateIssuer => ({
  async issue(csrPem) {
    const out = await pacedCall(pacer, "CreateCertificateFromCsr", () =>
      iot.send(
        new CreateCertificateFromCsrCommand({ certificateSigningRequest: csrPem, setAsActive: false }),
      ),
    );
    const { certificateId, certificateArn, certificatePem } = out;
    if (!certificateId || !isCertificateId(certificateId) || !certificateArn || !certificatePem)
      throw new DependencyUnavailableError(
        "CreateCertificateFromCsr: IoT Core's answer names no certificate",
      );
    return { certificateId: certificateId as CertificateId, certificateArn, certificatePem };
  },
});

/**
 * Snapshot jobs for named devices' Things. `thingArnPrefix` is `arn:<partition>:iot:<region>:<account>:thing/`.
 * The same job id again is the same job: a retry changes nothing.
 */
export const iotDeviceJobs = (iot: IoTClient, thingArnPrefix: string, pacer?: IotPacer): DeviceJobs => ({
  async createJob(job) {
    await ignoreAlreadyExists(
      pacedCall(pacer, "CreateJob", () =>
        iot.send(
          new CreateJobCommand({
            jobId: job.jobId,
            targets: job.deviceIds.map((deviceId) => `${thingArnPrefix}${deviceId}`),
            document: JSON.stringify(job.document),
            description: job.description,
            targetSelection: "SNAPSHOT",
            jobExecutionsRolloutConfig: { maximumPerMinute: job.perMinute },
            timeoutConfig: { inProgressTimeoutInMinutes: job.inProgressMinutes },
          }),
        ),
      ),
    );
  },
});

/** Publishes to a device on `<prefix>/<deviceId>/<subtopic>`, QoS 1, through IoT Core's data plane. */
export const iotDeviceMessages = (
  data: () => Promise<IoTDataPlaneClient>,
  topicPrefix: string,
): DeviceMessages => ({
  async send(deviceId, subtopic, payload) {
    const plane = await data();
    await call("Publish", () =>
      plane.send(
        new PublishCommand({
          topic: `${topicPrefix}/${deviceId}/${subtopic}`,
          qos: 1,
          contentType: "application/json",
          payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
      ),
    );
  },
});
