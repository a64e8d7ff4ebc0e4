import {
  AddThingToThingGroupCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DescribeCertificateCommand,
} from "@aws-sdk/client-iot";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ApiClient } from "#cli/api-client.js";
import type { LocalApi } from "#local/api-server.js";
import { sqsEvent } from "#local/iot-simulator.js";
import { createApiWorld, OPERATOR } from "#test/support/api-world.js";
import type { MotoWorld } from "#test/support/moto-world.js";

/**
 * The reconciler against moto: IoT Core's inventory read through the adapters, the operations
 * API's POST /reconcile with its repairs, and the scheduled function with its checkpoint.
 */
let world: MotoWorld;
let api: LocalApi;
let client: ApiClient;
let jitr: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
const context = { functionName: "jitr" } as Context;

beforeAll(async () => {
  ({ world, api, client, jitr } = await createApiWorld(inject("motoEndpoint")));
});

afterAll(async () => {
  await api?.close();
});

const provisioned = async (name: string) => {
  const deviceId = world.id(name);
  await world.allow(`deviceId\n${deviceId}\n`);
  const message = await world.connect({ deviceId });
  expect(await jitr(sqsEvent([message]), context)).toEqual({ batchItemFailures: [] });
  return { deviceId, certificateId: message.certificateId };
};

/** A certificate made outside fleetgate, ACTIVE, attached to `thingName`. */
const foreignCertificate = async (thingName: string) => {
  const made = await world.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  await world.iot.send(new AttachThingPrincipalCommand({ thingName, principal: made.certificateArn ?? "" }));
  return made.certificateId ?? "";
};

const status = async (certificateId: string) =>
  (await world.iot.send(new DescribeCertificateCommand({ certificateId }))).certificateDescription?.status;

/** Every page of a pass through the API. */
const pass = async (body: Record<string, unknown> = {}) => {
  const drifts: { kind: string; deviceId: string; certificateId?: string; repair?: unknown }[] = [];
  let cursor: string | undefined;
  do {
    const answer = await client("POST", "/reconcile", {
      body: { limit: 5, ...body, ...(cursor ? { cursor } : {}) },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const report = answer.body as { drifts: typeof drifts; cursor?: string };
    drifts.push(...report.drifts);
    cursor = report.cursor;
  } while (cursor);
  return drifts;
};

describe("POST /reconcile", () => {
  it("finds a certificate made outside fleetgate on a revoked device's Thing, and --repair revokes it and records who did", async () => {
    const { deviceId } = await provisioned("stolen");
    expect((await client("POST", `/devices/${deviceId}/revoke`, { body: { reason: "stolen" } })).status).toBe(
      200,
    );
    const extra = await foreignCertificate(deviceId);

    const found = await client("POST", "/reconcile", { body: { deviceId } });
    expect(found.body).toMatchObject({
      drifts: [
        {
          kind: "REVOKED_DEVICE_CERTIFICATE_ACTIVE",
          security: true,
          deviceId,
          state: "REVOKED",
          certificateId: extra,
          certificateStatus: "ACTIVE",
        },
      ],
    });
    expect(await status(extra)).toBe("ACTIVE");

    const repaired = await client("POST", "/reconcile", { body: { deviceId, repair: true } });

    expect(repaired.body).toMatchObject({ drifts: [{ repair: { outcome: "REVOKED" } }] });
    expect(await status(extra)).toBe("REVOKED");
    const history = await client("GET", `/devices/${deviceId}/events`);
    expect((history.body as { events: unknown[] }).events.at(-1)).toMatchObject({
      type: "CERTIFICATE_REVOKED",
      actor: OPERATOR.userArn,
      certificateId: extra,
    });
    expect((await client("POST", "/reconcile", { body: { deviceId } })).body).toMatchObject({ drifts: [] });
  });

  it("walks every record and every Thing of the devices' group, page by page, and reports each drift once", async () => {
    const healthy = await provisioned("healthy");
    const doubled = await provisioned("doubled");
    const unapproved = await foreignCertificate(doubled.deviceId);
    const stranger = world.id("stranger");
    await world.iot.send(new CreateThingCommand({ thingName: stranger }));
    await world.iot.send(
      new AddThingToThingGroupCommand({ thingGroupName: world.thingGroupName, thingName: stranger }),
    );

    const drifts = await pass();

    const about = (deviceId: string) => drifts.filter((drift) => drift.deviceId === deviceId);
    expect(about(healthy.deviceId)).toEqual([]);
    expect(about(doubled.deviceId).map((drift) => [drift.kind, drift.certificateId])).toEqual([
      ["UNRECORDED_CERTIFICATE_ACTIVE", unapproved],
    ]);
    expect(about(stranger).map((drift) => drift.kind)).toEqual(["THING_WITHOUT_RECORD"]);
  });

  it("refuses a bad request, naming the field", async () => {
    const answer = await client("POST", "/reconcile", { body: { limit: 0, extra: true } });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toMatch(/body\.limit/);
  });
});

describe("the scheduled reconciler", () => {
  it("reports the expiry watch and a complete pass, and leaves no checkpoint behind", async () => {
    const { iotClient } = await import("#adapters/aws-clients.js");
    // moto has no ListCACertificates: answer it as IoT Core would, with this world's CA.
    iotClient().middlewareStack.add(
      (next, ctx) => async (args) =>
        (ctx as { commandName?: string }).commandName === "ListCACertificatesCommand"
          ? {
              output: { $metadata: {}, certificates: [{ certificateId: world.caCertificateId }] },
              response: {},
            }
          : next(args),
      { step: "initialize", name: "list-ca-certificates" },
    );
    const stolen = await provisioned("scheduled");
    await client("POST", `/devices/${stolen.deviceId}/revoke`, { body: { reason: "lost" } });
    await foreignCertificate(stolen.deviceId);
    const { handler } = await import("#functions/reconciler.js");

    const result = await handler({}, {
      functionName: "reconciler",
      getRemainingTimeInMillis: () => 900_000,
    } as Context);

    expect(result).toMatchObject({
      expiring: { devices: 0, cas: 0 },
      reconciled: { pass: "complete", drifts: { REVOKED_DEVICE_CERTIFICATE_ACTIVE: 1 }, unchecked: 0 },
    });
    const { reconcilerCheckpoint } = await import("#adapters/dynamodb/reconciler-checkpoint.js");
    const { documentClient } = await import("#adapters/aws-clients.js");
    expect(await reconcilerCheckpoint(documentClient(), world.tableName).readCheckpoint()).toBeUndefined();
  });
});

describe("the reconciler's checkpoint", () => {
  it("keeps where a run stopped, and forgets it when a pass completes", async () => {
    const { reconcilerCheckpoint } = await import("#adapters/dynamodb/reconciler-checkpoint.js");
    const { documentClient } = await import("#adapters/aws-clients.js");
    const checkpoint = reconcilerCheckpoint(documentClient(), world.tableName);

    await checkpoint.saveCheckpoint("abc");
    expect(await checkpoint.readCheckpoint()).toBe("abc");
    await checkpoint.saveCheckpoint(undefined);
    expect(await checkpoint.readCheckpoint()).toBeUndefined();
  });
});
