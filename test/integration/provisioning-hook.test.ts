import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Context, SQSEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { PreProvisioningDeps } from "#app/pre-provision.js";
import { certificateIdOf } from "#domain/certificate.js";
import type { BatchId, CertificateId } from "#domain/ids.js";
import { createCa, issueDeviceCertificate } from "#local/dev-pki.js";
import { createMotoWorld, type MotoWorld } from "#test/support/moto-world.js";

/**
 * The pre-provisioning hook and the reservation's confirmation as deployed (their handlers over the
 * real adapters) against DynamoDB on moto, with IoT Core's hook input and presence events.
 */
let world: MotoWorld;
let hook: typeof import("#functions/provisioning-hook.js");
let confirm: typeof import("#functions/reservation-confirm.js");
let deps: PreProvisioningDeps;
let blackhole: Server;
const amazon = await createCa({ name: "Amazon-like CA for the hook" });
const CLAIM = "c1".repeat(32) as CertificateId;
const fixture = JSON.parse(
  readFileSync(new URL("../events/pre-provisioning-hook.json", import.meta.url), "utf8"),
) as Record<string, unknown>;
const context = { functionName: "provisioningHook", awsRequestId: "test" } as unknown as Context;

beforeAll(async () => {
  world = await createMotoWorld(inject("motoEndpoint"));
  hook = await import("#functions/provisioning-hook.js");
  confirm = await import("#functions/reservation-confirm.js");
  const { preProvisioningDeps } = await import("#adapters/wiring/fleet.js");
  deps = preProvisioningDeps({
    DEVICES_TABLE: world.tableName,
    CLOCK_SKEW_SECONDS: 300,
    HOOK_BUDGET_MS: 2000,
    RESERVATION_SECONDS: 3600,
  });
  await bindClaim(CLAIM, await world.allow(`deviceId\n${world.id("seed")}\n`));
  // A DynamoDB endpoint that accepts connections and never answers: the slowest dependency there is.
  blackhole = createServer(() => undefined).listen(0, "127.0.0.1");
});

afterAll(() => {
  blackhole?.close();
});

/** A claim fleetgate issued, bound to one batch. */
const bindClaim = async (claimCertificateId: CertificateId, batchId: string) => {
  const { claimRegistry } = await import("#adapters/dynamodb/fleet.js");
  const { documentClient } = await import("#adapters/aws-clients.js");
  await claimRegistry(documentClient(), world.tableName).bindClaim({
    claimCertificateId,
    certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${claimCertificateId}`,
    batchIds: [batchId as BatchId],
    createdAt: new Date().toISOString(),
    createdBy: "test",
  });
};

const ask = async (deviceId: string, overrides: Record<string, unknown> = {}) => {
  const { pem } = await issueDeviceCertificate(amazon, { subject: "CN=AWS IoT Certificate" });
  const event = {
    ...fixture,
    claimCertificateId: CLAIM,
    certificateId: certificateIdOf(pem),
    certificatePem: pem,
    parameters: { DeviceId: deviceId, BatchId: "forged" },
    ...overrides,
  };
  return { event, certificateId: certificateIdOf(pem) };
};

const entryOf = async (deviceId: string) => {
  const { lifecycleStore } = await import("#adapters/wiring.js");
  return lifecycleStore({ DEVICES_TABLE: world.tableName }).getDevice(deviceId as never);
};

describe("the pre-provisioning hook, as deployed", () => {
  it("allows a listed device of the claim's batch with the entry's batch and model, and reserves it", async () => {
    const deviceId = world.id("fleet-1");
    const batchId = await world.allow(`deviceId,model\n${deviceId},m7\n`);
    const claim = "c2".repeat(32) as CertificateId;
    await bindClaim(claim, batchId);
    const { event, certificateId } = await ask(deviceId, { claimCertificateId: claim });

    const answer = await hook.provisioningHook(deps)(event, context);

    expect(answer).toEqual({
      allowProvisioning: true,
      parameterOverrides: { DeviceId: deviceId, BatchId: batchId, Model: "m7" },
    });
    expect(await entryOf(deviceId)).toMatchObject({
      state: "PROVISIONING",
      certificate: {
        certificateId,
        certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${certificateId}`,
        reservedUntil: expect.any(String),
      },
    });
  });

  it("denies a device its claim is not bound to, and a request that is not IoT Core's", async () => {
    const deviceId = world.id("fleet-other");
    await world.allow(`deviceId\n${deviceId}\n`);

    expect(await hook.provisioningHook(deps)((await ask(deviceId)).event, context)).toEqual({
      allowProvisioning: false,
    });
    expect(await hook.provisioningHook(deps)({ certificateId: "x" }, context)).toEqual({
      allowProvisioning: false,
    });
    expect(await entryOf(deviceId)).toMatchObject({ state: "ALLOWED" });
  });

  it("denies within its budget when DynamoDB does not answer, instead of letting IoT Core's 5 s run out", async () => {
    const { fleetLedger } = await import("#adapters/dynamodb/fleet.js");
    const { provisioningLedger } = await import("#adapters/dynamodb/provisioning-ledger.js");
    const address = blackhole.address() as { port: number };
    const silent = DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: `http://127.0.0.1:${address.port}`, maxAttempts: 1 }),
    );
    const slow = {
      ...deps,
      budgetMs: 300,
      fleet: fleetLedger(silent, world.tableName),
      store: provisioningLedger(silent, world.tableName),
    };

    const started = Date.now();
    const answer = await hook.provisioningHook(slow)((await ask(world.id("fleet-slow"))).event, context);

    expect(answer).toEqual({ allowProvisioning: false });
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe("the reservation's confirmation, as deployed", () => {
  it("activates the reserved entry when its certificate's presence event arrives, once", async () => {
    const deviceId = world.id("fleet-confirm");
    const batchId = await world.allow(`deviceId\n${deviceId}\n`);
    const claim = "c3".repeat(32) as CertificateId;
    await bindClaim(claim, batchId);
    const { event, certificateId } = await ask(deviceId, { claimCertificateId: claim });
    await hook.provisioningHook(deps)(event, context);
    const { confirmDeps } = await import("#adapters/wiring/fleet.js");
    const presence = (principalIdentifier: string, messageId: string) => ({
      messageId,
      body: JSON.stringify({ clientId: deviceId, principalIdentifier, eventType: "connected" }),
      attributes: { ApproximateReceiveCount: "1" },
    });
    const sqs = {
      Records: [presence(certificateId, "1"), presence(CLAIM, "2"), presence("not-a-cert", "3")],
    };

    const handler = confirm.reservationConfirm(confirmDeps({ DEVICES_TABLE: world.tableName }));
    expect(await handler(sqs as unknown as SQSEvent, context)).toEqual({ batchItemFailures: [] });
    await handler(sqs as unknown as SQSEvent, context);

    expect(await entryOf(deviceId)).toMatchObject({ state: "ACTIVE", certificate: { certificateId } });
  });
});
