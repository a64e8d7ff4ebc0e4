import { randomUUID } from "node:crypto";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateThingGroupCommand, DescribeCertificateCommand, IoTClient } from "@aws-sdk/client-iot";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { MiddlewareStack } from "@smithy/types";
import { lifecycleTableDefinition } from "#adapters/table-definition.js";
import { manifestDeps } from "#adapters/wiring.js";
import { registerBatch } from "#app/register-batch.js";
import { createCa, type DeviceOptions, type Issuer, issueDeviceCertificate } from "#local/dev-pki.js";
import { firstConnect, type JitrMessage, registerCa } from "#local/iot-simulator.js";
import { useMotoEnvironment } from "#local/moto-server.js";

/**
 * One test file's corner of the shared moto server: its own table, policy name, CA and device-id
 * prefix, so files can run side by side against one emulator.
 */
export interface MotoWorld {
  readonly iot: IoTClient;
  readonly bucket: string;
  readonly recallQueueUrl: string;
  readonly tableName: string;
  /** The devices' thing group (the deployment makes it; here each file has its own). */
  readonly thingGroupName: string;
  readonly prefix: string;
  readonly ca: Issuer;
  readonly caCertificateId: string;
  /** A fresh device id for this file. */
  id(name: string): string;
  /** Registers a manifest for this world's CA (or another) and returns the batch id. */
  allow(manifest: string, caCertificateId?: string): Promise<string>;
  /** Issues a device certificate and makes its first connection: the JITR message IoT Core publishes. */
  connect(options: DeviceOptions, issuer?: { ca: Issuer; caCertificateId: string }): Promise<JitrMessage>;
  /** Another registered CA, for cross-product-line cases. */
  anotherCa(name: string): Promise<{ ca: Issuer; caCertificateId: string }>;
}

/** Sets the environment the handler and adapters read; call before importing them. */
export const motoEnvironment = (endpoint: string, tableName: string, thingGroupName: string): void => {
  useMotoEnvironment(endpoint, {
    DEVICES_TABLE: tableName,
    DEVICE_THING_GROUP: thingGroupName,
    // Pacing is tested on its own; here it would only slow the suite down.
    IOT_QUOTA_SHARE: "100",
  });
};

export const createMotoWorld = async (endpoint: string): Promise<MotoWorld> => {
  const suffix = randomUUID().slice(0, 8);
  const tableName = `devices-${suffix}`;
  const thingGroupName = `fleetgate-devices-${suffix}`;
  motoEnvironment(endpoint, tableName, thingGroupName);
  const iot = new IoTClient({});
  // The functions' own IoT client (made once per process) refuses to revive a revoked certificate.
  keepRevocationsFinal((await import("#adapters/aws-clients.js")).iotClient());
  await iot.send(new CreateThingGroupCommand({ thingGroupName }));
  await new DynamoDBClient({}).send(new CreateTableCommand(lifecycleTableDefinition(tableName)));
  const bucket = `manifests-${suffix}`;
  await new S3Client({ forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: bucket }));
  const queue = await new SQSClient({}).send(new CreateQueueCommand({ QueueName: `recall-${suffix}` }));
  const rotationWork = await new SQSClient({}).send(
    new CreateQueueCommand({ QueueName: `rotation-work-${suffix}` }),
  );
  Object.assign(process.env, {
    MANIFEST_BUCKET: bucket,
    RECALL_QUEUE_URL: queue.QueueUrl,
    ROTATION_WORK_QUEUE_URL: rotationWork.QueueUrl,
    // moto's account and region.
    THING_ARN_PREFIX: "arn:aws:iot:us-east-1:123456789012:thing/",
  });
  const ca = await createCa({ name: `Line ${suffix}` });
  const caCertificateId = await registerCa(iot, ca);
  const prefix = `t${suffix}`;
  return {
    iot,
    bucket,
    recallQueueUrl: queue.QueueUrl ?? "",
    tableName,
    thingGroupName,
    prefix,
    ca,
    caCertificateId,
    id: (name) => `${prefix}-${name}`,
    async allow(manifest, ca = caCertificateId) {
      const result = await registerBatch(
        {
          ...manifestDeps({
            DEVICES_TABLE: tableName,
            THING_TYPE_NAME: undefined,
            FACTORY_PUBLIC_KEYS: undefined,
          }),
          // As if registered while its CA was in good standing: a test may have retired the CA
          // since. The check of the CA at registration is tested through the API.
          caRegistry: {
            describeCaCertificate: async (id) => ({ caCertificateId: id, status: "ACTIVE", pem: "" }),
          },
        },
        {
          open: () => [Buffer.from(manifest)],
          caCertificateId: ca,
          actor: "test",
          source: "test",
        },
      );
      return result.batch.batchId;
    },
    async connect(options, issuer = { ca, caCertificateId }) {
      const device = await issueDeviceCertificate(issuer.ca, options);
      return firstConnect(iot, device, { pem: issuer.ca.pem, caCertificateId: issuer.caCertificateId });
    },
    async anotherCa(name) {
      const other = await createCa({ name: `${name} ${suffix}` });
      return { ca: other, caCertificateId: await registerCa(iot, other) };
    },
  };
};

type AnyStack = MiddlewareStack<object, object>;

export interface Failure {
  /** The SDK command's class name, e.g. "UpdateCertificateCommand". */
  readonly command: string;
  /** `after`: the call takes effect, then the Lambda "crashes"; `instead`: the call fails (throttling, outage). */
  readonly mode: "after" | "instead";
  readonly error?: () => Error;
  /** Which matching call fails (1 = the next one). */
  readonly nth?: number;
}

/** Makes a client fail once like a crashed Lambda or a throttled API. Returns a function that stops it. */
export const injectFailure = (client: { middlewareStack: unknown }, failure: Failure): (() => void) => {
  const { command, mode, nth = 1 } = failure;
  const error = failure.error ?? (() => new Error(`injected crash after ${command}`));
  let seen = 0;
  const name = `inject-${randomUUID()}`;
  const stack = client.middlewareStack as AnyStack;
  stack.add(
    (next, context) => async (args) => {
      const hit = (context as { commandName?: string }).commandName === command && ++seen === nth;
      if (hit && mode === "instead") throw error();
      const result = await next(args);
      if (hit) throw error();
      return result;
    },
    { step: "initialize", name },
  );
  return () => stack.remove(name);
};

/**
 * IoT Core keeps a REVOKED certificate REVOKED; moto lets it become ACTIVE again. This guard on a
 * client makes moto refuse it as IoT Core does, so no test passes by reviving a certificate.
 */
export const keepRevocationsFinal = (client: IoTClient): void => {
  const stack = client.middlewareStack as unknown as AnyStack;
  stack.add(
    (next, context) => async (args) => {
      const input = (args as { input?: { certificateId?: string; newStatus?: string } }).input;
      if (
        (context as { commandName?: string }).commandName === "UpdateCertificateCommand" &&
        input?.certificateId
      ) {
        const current = await new IoTClient({}).send(
          new DescribeCertificateCommand({ certificateId: input.certificateId }),
        );
        if (current.certificateDescription?.status === "REVOKED" && input.newStatus !== "REVOKED")
          throw Object.assign(new Error("Certificate is revoked and cannot change status"), {
            name: "CertificateStateException",
          });
      }
      return next(args);
    },
    { step: "initialize", name: "keep-revocations-final", override: true },
  );
};
