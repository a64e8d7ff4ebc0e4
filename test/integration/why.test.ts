import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ApiClient } from "#cli/api-client.js";
import type { LocalApi } from "#local/api-server.js";
import { sqsEvent } from "#local/iot-simulator.js";
import { createApiWorld } from "#test/support/api-world.js";
import type { MotoWorld } from "#test/support/moto-world.js";

/** "Why can't device X connect?" and "what is this certificate?", answered by the operations API. */
let world: MotoWorld;
let api: LocalApi;
let client: ApiClient;
let jitr: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
const context = { functionName: "jitr" } as Context;
const DAY = 86_400_000;

beforeAll(async () => {
  ({ world, api, client, jitr } = await createApiWorld(inject("motoEndpoint")));
});

afterAll(async () => {
  await api?.close();
});

describe("GET /devices/{id}/why", () => {
  it("names the refused certificate of a listed device, the failed check, and what to do", async () => {
    const deviceId = world.id("expired");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({
      deviceId,
      notBefore: new Date(Date.now() - 400 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    await jitr(sqsEvent([message]), context);

    const answer = await client("GET", `/devices/${deviceId}/why`);

    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      deviceId,
      onAllowlist: true,
      state: "ALLOWED",
      attempts: [
        {
          certificateId: message.certificateId,
          outcome: "REFUSED",
          diagnosis: expect.stringMatching(/^CERTIFICATE_EXPIRED: /),
          certificateStatus: "REVOKED",
        },
      ],
      advice: expect.stringMatching(/new certificate/),
    });
  });

  it("answers for a device on no batch: its certificate waits, and its manifest is what is missing", async () => {
    const deviceId = world.id("early");
    const message = await world.connect({ deviceId });
    await jitr(sqsEvent([message]), context);
    await jitr(sqsEvent([message]), context);

    const answer = await client("GET", `/devices/${deviceId}/why`);

    expect(answer.body).toMatchObject({
      onAllowlist: false,
      attempts: [{ outcome: "WAITING", connects: 2, certificateStatus: "PENDING_ACTIVATION" }],
      advice: expect.stringMatching(/register its manifest/),
    });
  });

  it("tells how to look for a device fleetgate has never seen", async () => {
    const answer = await client("GET", `/devices/${world.id("ghost")}/why`);
    expect(answer.body).toMatchObject({
      onAllowlist: false,
      attempts: [],
      advice: expect.stringMatching(/SNI/),
    });
  });
});

describe("GET /certificates/{id}", () => {
  it("finds a certificate by its fingerprint as usually printed, with IoT Core's status and fleetgate's record", async () => {
    const deviceId = world.id("fingerprint");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });
    await jitr(sqsEvent([message]), context);
    const printed = message.certificateId.toUpperCase().match(/../g)?.join(":") ?? "";

    const answer = await client("GET", `/certificates/${printed}`);

    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      certificateId: message.certificateId,
      status: "ACTIVE",
      record: { outcome: "ASSIGNED", deviceId },
    });
  });

  it("is not found when neither IoT Core nor fleetgate knows it, and a bad id is refused", async () => {
    expect((await client("GET", `/certificates/${"0".repeat(64)}`)).status).toBe(404);
    expect((await client("GET", "/certificates/xyz")).status).toBe(400);
  });
});
