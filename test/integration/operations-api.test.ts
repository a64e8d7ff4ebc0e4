import {
  DeleteCertificateCommand,
  DescribeCertificateCommand,
  DescribeThingCommand,
  DetachThingPrincipalCommand,
  UpdateCertificateCommand,
} from "@aws-sdk/client-iot";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type ApiClient, createApiClient } from "#cli/api-client.js";
import { runCli } from "#cli/program.js";
import type { LocalApi } from "#local/api-server.js";
import { type JitrMessage, sqsEvent } from "#local/iot-simulator.js";
import { type ApiWorld, cliAgainst, createApiWorld, OPERATOR } from "#test/support/api-world.js";
import { injectFailure, type MotoWorld } from "#test/support/moto-world.js";

let w: ApiWorld;
let world: MotoWorld;
let api: LocalApi;
let client: ApiClient;
let jitr: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

beforeAll(async () => {
  w = await createApiWorld(inject("motoEndpoint"));
  ({ world, api, client, jitr } = w);
});

afterAll(async () => {
  await api?.close();
});

const context = { functionName: "jitr" } as Context;

const provisioned = async (name: string): Promise<{ deviceId: string; message: JitrMessage }> => {
  const deviceId = world.id(name);
  await world.allow(`deviceId,model\n${deviceId},m1\n`);
  const message = await world.connect({ deviceId });
  expect(await jitr(sqsEvent([message]), context)).toEqual({ batchItemFailures: [] });
  return { deviceId, message };
};

const certificateStatus = async (certificateId: string) =>
  (await world.iot.send(new DescribeCertificateCommand({ certificateId }))).certificateDescription?.status;

describe("operations API: reading", () => {
  it("shows a device: state, certificate as IoT Core has it, batch, recent history", async () => {
    const { deviceId, message } = await provisioned("show");
    const answer = await client("GET", `/devices/${deviceId}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      device: { deviceId, state: "ACTIVE", model: "m1" },
      certificate: {
        certificateId: message.certificateId,
        status: "ACTIVE",
        certificateSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
      history: [{ type: "PROVISIONING_STARTED" }, { type: "ACTIVATED" }],
    });
  });

  it("refuses unsigned requests and requests signed with the wrong secret", async () => {
    expect((await fetch(`${api.url}/devices/x`)).status).toBe(403);
    const forger = createApiClient({
      baseUrl: api.url,
      region: "us-east-1",
      credentials: async () => ({ ...OPERATOR, secretAccessKey: "guess" }),
    });
    expect((await forger("GET", "/devices/x")).status).toBe(403);
  });

  it("answers problem+json naming the field for bad input, and 404 for an unknown device", async () => {
    const invalid = await fetchSigned("GET", "/devices?state=SLEEPING");
    expect(invalid.status).toBe(400);
    expect(invalid.contentType).toBe("application/problem+json");
    expect(invalid.body).toMatchObject({ status: 400, errors: [expect.stringMatching(/^query\.state: /)] });
    const missing = await client("GET", `/devices/${world.id("ghost")}`);
    expect(missing).toMatchObject({
      status: 404,
      body: { title: "not found", detail: expect.stringMatching(/does not exist/) },
    });
    expect((await client("GET", "/nowhere")).status).toBe(404);
  });

  it("pages through the devices of a batch with an opaque cursor, and refuses a forged cursor", async () => {
    const ids = [world.id("page-a"), world.id("page-b"), world.id("page-c")];
    const batchId = await world.allow(`deviceId\n${ids.join("\n")}\n`);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const answer = await client("GET", "/devices", {
        query: { batchId, limit: "2", ...(cursor ? { cursor } : {}) },
      });
      expect(answer.status).toBe(200);
      const body = answer.body as { devices: { deviceId: string }[]; cursor?: string };
      seen.push(...body.devices.map((d) => d.deviceId));
      cursor = body.cursor;
    } while (cursor);
    expect(seen.sort()).toEqual(ids.sort());
    const forged = Buffer.from(
      JSON.stringify({ gsi2pk: "BATCH#other", pk: "x", sk: "y", gsi2sk: "z" }),
    ).toString("base64url");
    expect((await client("GET", "/devices", { query: { batchId, cursor: forged } })).status).toBe(400);
  });
});

describe("operations API: paging with hostile cursors", () => {
  const cursorOf = (key: object) => Buffer.from(JSON.stringify(key)).toString("base64url");

  it("answers 400 naming the cursor, on every paged route, for a cursor that lacks key attributes", async () => {
    const { deviceId } = await provisioned("cursor-keys");
    const batchId = ((await client("GET", `/devices/${deviceId}`)).body as { device: { batchId: string } })
      .device.batchId;
    const routes: [string, Record<string, string>, object][] = [
      ["/devices", { batchId }, { gsi2pk: `BATCH#${batchId}` }],
      ["/devices", { state: "ACTIVE" }, { gsi1pk: "STATE#ACTIVE" }],
      [`/devices/${deviceId}/events`, {}, { pk: `DEVICE#${deviceId}` }],
      ["/batches", {}, { gsi1pk: "BATCHES" }],
    ];
    for (const [path, query, key] of routes) {
      const answer = await client("GET", path, { query: { ...query, cursor: cursorOf(key) } });
      expect({ path, ...answer }).toMatchObject({
        path,
        status: 400,
        body: { errors: [expect.stringMatching(/^query\.cursor: /)] },
      });
    }
  });

  it("answers 400 naming the cursor for another query's cursor, a cursor of another device, and garbage", async () => {
    const a = await provisioned("cursor-a");
    const b = await provisioned("cursor-b");
    const page = (await client("GET", `/devices/${a.deviceId}/events`, { query: { limit: "1" } })).body as {
      cursor: string;
    };
    const batches = (await client("GET", "/batches", { query: { limit: "1" } })).body as { cursor: string };
    const answers = [
      await client("GET", `/devices/${b.deviceId}/events`, { query: { cursor: page.cursor } }),
      await client("GET", "/devices", { query: { state: "ACTIVE", cursor: batches.cursor } }),
      await client("GET", "/batches", { query: { cursor: page.cursor } }),
      await client("GET", "/batches", { query: { cursor: "bm90IGpzb24" } }),
      await client("GET", "/batches", { query: { cursor: cursorOf(["pk", "sk"]) } }),
    ];
    for (const answer of answers)
      expect(answer).toMatchObject({
        status: 400,
        body: { errors: [expect.stringMatching(/^query\.cursor: /)] },
      });
  });
});

describe("operations API: a certificate deleted from IoT Core", () => {
  const deleteCertificate = async (deviceId: string, certificateId: string) => {
    const certificateArn = (await world.iot.send(new DescribeCertificateCommand({ certificateId })))
      .certificateDescription?.certificateArn;
    await world.iot.send(new UpdateCertificateCommand({ certificateId, newStatus: "INACTIVE" }));
    await world.iot.send(new DetachThingPrincipalCommand({ thingName: deviceId, principal: certificateArn }));
    await world.iot.send(new DeleteCertificateCommand({ certificateId, forceDelete: true }));
  };

  it.each([
    ["revoke", "REVOKED"],
    ["suspend", "SUSPENDED"],
    ["decommission", "DECOMMISSIONED"],
  ])("lets an operator %s the device: a missing certificate is a finished step", async (action, state) => {
    const { deviceId, message } = await provisioned(`deleted-${action}`);
    await deleteCertificate(deviceId, message.certificateId);
    const answer = await client("POST", `/devices/${deviceId}/${action}`, {
      body: { reason: "deleted by hand" },
    });
    expect(answer).toMatchObject({ status: 200, body: { device: { state } } });
  });

  it("answers a reactivation 409, naming the certificate in fleetgate's words, not AWS's", async () => {
    const { deviceId, message } = await provisioned("deleted-reactivate");
    expect((await client("POST", `/devices/${deviceId}/suspend`, { body: { reason: "x" } })).status).toBe(
      200,
    );
    await deleteCertificate(deviceId, message.certificateId);
    const answer = await client("POST", `/devices/${deviceId}/reactivate`, { body: {} });
    expect(answer).toMatchObject({
      status: 409,
      body: {
        detail: `cannot reactivate device ${deviceId}: its certificate ${message.certificateId} no longer exists in IoT Core`,
      },
    });
  });
});

describe("operations API: actions", () => {
  it("suspends and reactivates, recording the caller's IAM identity and the reason", async () => {
    const { deviceId, message } = await provisioned("suspend");
    const suspended = await client("POST", `/devices/${deviceId}/suspend`, {
      body: { reason: "noisy sensor" },
    });
    expect(suspended).toMatchObject({ status: 200, body: { device: { state: "SUSPENDED" } } });
    expect(await certificateStatus(message.certificateId)).toBe("INACTIVE");
    expect((await client("POST", `/devices/${deviceId}/reactivate`, { body: {} })).status).toBe(200);
    expect(await certificateStatus(message.certificateId)).toBe("ACTIVE");
    const events = (await client("GET", `/devices/${deviceId}/events`)).body as {
      events: Record<string, string>[];
    };
    expect(events.events.slice(-2)).toMatchObject([
      { type: "SUSPENDED", actor: OPERATOR.userArn, reason: "noisy sensor", from: "ACTIVE", to: "SUSPENDED" },
      { type: "REACTIVATED", actor: OPERATOR.userArn, from: "SUSPENDED", to: "ACTIVE" },
    ]);
  });

  it("requires a reason for destructive actions", async () => {
    const { deviceId } = await provisioned("no-reason");
    const answer = await client("POST", `/devices/${deviceId}/revoke`, { body: {} });
    expect(answer).toMatchObject({ status: 400, body: { detail: "reason is required to revoke a device" } });
  });

  it("revokes: a revoked identity cannot come back through JITR with a new certificate; reactivation is a 409", async () => {
    const { deviceId, message } = await provisioned("revoke");
    expect(
      (await client("POST", `/devices/${deviceId}/revoke`, { body: { reason: "key extracted" } })).status,
    ).toBe(200);
    expect(await certificateStatus(message.certificateId)).toBe("REVOKED");

    const comeback = await world.connect({ deviceId });
    await jitr(sqsEvent([comeback]), context);
    expect(await certificateStatus(comeback.certificateId)).toBe("REVOKED");

    const reactivate = await client("POST", `/devices/${deviceId}/reactivate`, { body: {} });
    expect(reactivate).toMatchObject({
      status: 409,
      body: { detail: "cannot reactivate a device that is REVOKED (allowed from SUSPENDED)" },
    });
  });

  it.each([
    ["reactivate", [], "ACTIVE"],
    ["suspend", ["suspend"], "SUSPENDED"],
    ["reactivate", ["revoke"], "REVOKED"],
    ["suspend", ["revoke"], "REVOKED"],
    ["revoke", ["decommission"], "DECOMMISSIONED"],
    ["decommission", ["decommission"], "DECOMMISSIONED"],
  ] as const)(
    "refuses to %s a device that is %s… with a 409 that names the rule, changing nothing",
    async (action, before, state) => {
      const { deviceId } = await provisioned(`illegal-${action}-${before.join("-") || "none"}`);
      for (const step of before)
        expect(
          (await client("POST", `/devices/${deviceId}/${step}`, { body: { reason: "setup" } })).status,
        ).toBe(200);
      const events = ((await client("GET", `/devices/${deviceId}/events`)).body as { events: unknown[] })
        .events.length;

      const answer = await client("POST", `/devices/${deviceId}/${action}`, { body: { reason: "try" } });

      expect(answer).toMatchObject({
        status: 409,
        body: { detail: expect.stringContaining(`cannot ${action} a device that is ${state}`) },
      });
      expect(
        ((await client("GET", `/devices/${deviceId}/events`)).body as { events: unknown[] }).events,
      ).toHaveLength(events);
    },
  );

  it("refuses to suspend a device that never connected", async () => {
    const deviceId = world.id("never-connected");
    await world.allow(`deviceId\n${deviceId}\n`);
    const answer = await client("POST", `/devices/${deviceId}/suspend`, { body: { reason: "x" } });
    expect(answer).toMatchObject({
      status: 409,
      body: { detail: expect.stringContaining("cannot suspend a device that is ALLOWED") },
    });
  });

  it("decommissions: Thing deleted, certificate revoked, history kept", async () => {
    const { deviceId, message } = await provisioned("decommission");
    expect(
      (await client("POST", `/devices/${deviceId}/decommission`, { body: { reason: "end of life" } })).status,
    ).toBe(200);
    await expect(world.iot.send(new DescribeThingCommand({ thingName: deviceId }))).rejects.toThrow();
    expect(await certificateStatus(message.certificateId)).toBe("REVOKED");
    const history = (await client("GET", `/devices/${deviceId}/events`)).body as {
      events: { type: string }[];
    };
    expect(history.events.map((e) => e.type)).toEqual([
      "PROVISIONING_STARTED",
      "ACTIVATED",
      "DECOMMISSIONED",
    ]);
  });

  it("makes a retried action with the same Idempotency-Key answer the same, once", async () => {
    const { deviceId } = await provisioned("idempotent");
    const first = await client("POST", `/devices/${deviceId}/suspend`, {
      body: { reason: "maintenance" },
      idempotencyKey: "op-42",
    });
    const retry = await client("POST", `/devices/${deviceId}/suspend`, {
      body: { reason: "maintenance" },
      idempotencyKey: "op-42",
    });
    expect(first.status).toBe(200);
    expect(retry).toEqual(first);
    const events = (await client("GET", `/devices/${deviceId}/events`)).body as {
      events: { type: string }[];
    };
    expect(events.events.filter((e) => e.type === "SUSPENDED")).toHaveLength(1);
    const reused = await client("POST", `/devices/${deviceId}/suspend`, {
      body: { reason: "other" },
      idempotencyKey: "op-42",
    });
    expect(reused.status).toBe(409);
  });

  it("revokes a device caught mid-provisioning; the redelivered event does not bring it back", async () => {
    const deviceId = world.id("mid");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });
    const clients = await import("#adapters/aws-clients.js");
    const stop = injectFailure(clients.iotClient(), {
      command: "AttachThingPrincipalCommand",
      mode: "instead",
    });
    expect((await jitr(sqsEvent([message]), context)).batchItemFailures).toHaveLength(1);
    stop();

    expect(
      (await client("POST", `/devices/${deviceId}/revoke`, { body: { reason: "lot recalled" } })).status,
    ).toBe(200);
    expect(await jitr(sqsEvent([message]), context)).toEqual({ batchItemFailures: [] });

    expect(await certificateStatus(message.certificateId)).toBe("REVOKED");
    expect(
      ((await client("GET", `/devices/${deviceId}`)).body as { device: { state: string } }).device.state,
    ).toBe("REVOKED");
  });
});

describe("fleetgate device CLI against the API", () => {
  it("shows and suspends a device over SigV4", async () => {
    const { deviceId } = await provisioned("cli");
    const { io, out, err } = cliAgainst(w);
    expect(await runCli(["device", "suspend", deviceId, "--reason", "field test"], io)).toBe(0);
    expect(await runCli(["device", "show", deviceId, "--json"], io)).toBe(0);
    expect(JSON.parse(out.at(-1) ?? "")).toMatchObject({ device: { deviceId, state: "SUSPENDED" } });
    expect(err).toEqual([]);
  });
});

const fetchSigned = async (method: "GET", path: string) => {
  const [pathname, search] = path.split("?");
  const query = Object.fromEntries(new URLSearchParams(search ?? ""));
  const answer = await client(method, pathname ?? path, { query });
  const raw = await rawContentType(method, path);
  return { ...answer, contentType: raw };
};

// The client keeps only the body; the content type is checked with a second, signed call.
const rawContentType = async (method: "GET", path: string): Promise<string | null> => {
  const { SignatureV4 } = await import("@smithy/signature-v4");
  const { HttpRequest } = await import("@smithy/protocol-http");
  const { Sha256 } = await import("@aws-crypto/sha256-js");
  const url = new URL(path, api.url);
  const signer = new SignatureV4({
    credentials: OPERATOR,
    region: "us-east-1",
    service: "execute-api",
    sha256: Sha256,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method,
      protocol: "http:",
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { host: url.host },
    }),
  );
  return (await fetch(url, { method, headers: signed.headers as Record<string, string> })).headers.get(
    "content-type",
  );
};
