import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeCertificateCommand, IoTClient } from "@aws-sdk/client-iot";
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from "@aws-sdk/client-lambda";
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { inject } from "vitest";
import { certificateIdOf } from "#domain/certificate.js";
import {
  createCa,
  type DeviceOptions,
  exportPrivateKeyPem,
  type Issuer,
  issueDeviceCertificate,
} from "#local/dev-pki.js";
import type { DeviceIdentity } from "#local/device.js";
import { localCli } from "#local/local-cli.js";
import type { LocalStack } from "#local/local-stack.js";
import { localClientConfig } from "#local/ministack.js";
import { registerCaForJitr } from "#local/register-ca.js";

/**
 * What an end-to-end test works with: the deployed local stack, root clients to look at it (the
 * functions themselves run under their own roles), a CA of the file's own, devices, and the CLI
 * run as the operator runs it, a process talking to the deployed API.
 */
export interface TestDevice {
  readonly deviceId: string;
  readonly identity: DeviceIdentity;
  readonly certificateId: string;
}

/** registerBatch's CA for a batch that has none: its devices are born through fleet provisioning. */
export const FLEET_ONLY = "fleet-only";

export const createE2eWorld = async (name: string) => {
  const stack: LocalStack = inject("localStack");
  const config = localClientConfig(stack.aws);
  const iot = new IoTClient(config);
  const lambda = new LambdaClient(config);
  const db = DynamoDBDocumentClient.from(new DynamoDBClient(config));
  const table = stack.stack.outputs.DevicesTableName ?? "";
  const suffix = randomUUID().slice(0, 8);
  // CA names must differ: a TLS stack looks issuers up by name.
  const ca = await createCa({ name: `${name} line ${suffix}` });
  const caCertificateId = await registerCaForJitr(iot, ca);
  const files = mkdtempSync(join(tmpdir(), "fleetgate-e2e-"));

  const cli = localCli(stack);

  const world = {
    stack,
    iot,
    db,
    ca,
    caCertificateId,
    id: (device: string) => `${name}-${suffix}-${device}`,

    /** A device with a fresh key and a certificate from `issuer` (this file's CA by default). */
    async device(deviceId: string, options: DeviceOptions = {}, issuer: Issuer = ca): Promise<TestDevice> {
      const certificate = await issueDeviceCertificate(issuer, { deviceId, ...options });
      return {
        deviceId,
        certificateId: certificateIdOf(certificate.pem),
        identity: {
          clientId: deviceId,
          certificateChainPem: `${certificate.pem}\n${issuer.pem}\n`,
          privateKeyPem: await exportPrivateKeyPem(certificate.keys.privateKey),
        },
      };
    },

    /** Another product line: a CA of its own, registered for JITR too. */
    async anotherCa(line: string) {
      const other = await createCa({ name: `${name} ${line} ${suffix}` });
      return { ca: other, caCertificateId: await registerCaForJitr(iot, other) };
    },

    cli,

    /**
     * Registers a manifest through the deployed API with the CLI, under a CA (this file's by
     * default) or with none (FLEET_ONLY); answers the batch id.
     */
    async registerBatch(manifest: string, caId: string = caCertificateId): Promise<string> {
      const path = join(files, `${randomUUID()}.csv`);
      writeFileSync(path, manifest);
      const ca = caId === FLEET_ONLY ? ["--fleet-only"] : ["--ca", caId];
      const result = await cli(["batch", "register", path, ...ca, "--json"]);
      if (result.code !== 0)
        throw new Error(`batch register exited ${result.code}: ${result.stderr}${result.stdout}`);
      return (JSON.parse(result.stdout) as { batch: { batchId: string } }).batch.batchId;
    },

    /** Invokes a deployed function and waits for its answer, as EventBridge or an operator would. */
    invoke(functionName: string, payload: object): Promise<InvokeCommandOutput> {
      return lambda.send(
        new InvokeCommand({
          FunctionName: functionName,
          Payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
      );
    },

    async certificateStatus(certificateId: string): Promise<string | undefined> {
      try {
        const out = await iot.send(new DescribeCertificateCommand({ certificateId }));
        return out.certificateDescription?.status;
      } catch {
        return undefined;
      }
    },

    async certificateRecord(certificateId: string): Promise<Record<string, unknown> | undefined> {
      const out = await db.send(
        new GetCommand({
          TableName: table,
          Key: { pk: `CERT#${certificateId}`, sk: "CERT" },
          ConsistentRead: true,
        }),
      );
      return out.Item;
    },

    async deviceRecord(deviceId: string): Promise<Record<string, unknown> | undefined> {
      const out = await db.send(
        new GetCommand({
          TableName: table,
          Key: { pk: `DEVICE#${deviceId}`, sk: "STATE" },
          ConsistentRead: true,
        }),
      );
      return out.Item;
    },

    /**
     * Waits for the device's record to say ACTIVE. The certificate is activated before the record
     * is written, so a device's connect may be accepted while the function is between the two.
     */
    async untilActive(deviceId: string): Promise<Record<string, unknown> | undefined> {
      return eventually(
        () => world.deviceRecord(deviceId),
        (record) => record?.state === "ACTIVE",
        { intervalMs: 50, what: `${deviceId} recorded ACTIVE` },
      );
    },

    async history(deviceId: string): Promise<string[]> {
      const out = await db.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :events)",
          ExpressionAttributeValues: { ":pk": `DEVICE#${deviceId}`, ":events": "EVENT#" },
        }),
      );
      return (out.Items ?? []).map((item) => String(item.type));
    },
  };
  return world;
};

export type E2eWorld = Awaited<ReturnType<typeof createE2eWorld>>;

/** Polls until `accept` holds, or fails with the last value seen. */
/** What EventBridge sends a function on its schedule. */
export const SCHEDULED_EVENT = { source: "aws.events", "detail-type": "Scheduled Event" };

export const eventually = async <T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  { timeoutMs = 30_000, intervalMs = 250, what = "condition" } = {},
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`${what} not reached within ${timeoutMs} ms; last seen: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
};
