import { DescribeCertificateCommand } from "@aws-sdk/client-iot";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { Context, S3Event, SQSEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { sqsEvent } from "#local/iot-simulator.js";
import { type ApiWorld, cliAgainst, createApiWorld } from "#test/support/api-world.js";

let w: ApiWorld;
const context = {} as Context;

beforeAll(async () => {
  w = await createApiWorld(inject("motoEndpoint"));
});

afterAll(async () => {
  await w?.api.close();
});

const postCsv = (text: string, query: Record<string, string>) =>
  w.client("POST", "/batches", { query, raw: { contentType: "text/csv", text } });

describe("batches: inline", () => {
  it("registers a CSV manifest, says so when it comes again, and shows the batch", async () => {
    const ids = [w.world.id("in-1"), w.world.id("in-2")];
    const text = `deviceId,model\n${ids.map((id) => `${id},m1`).join("\n")}\n`;
    const first = await postCsv(text, {
      caCertificateId: w.world.caCertificateId,
      batchId: `${w.world.prefix}-lot-a`,
    });
    expect(first).toMatchObject({
      status: 201,
      body: { replay: false, batch: { state: "REGISTERED", counts: { rows: 2, accepted: 2 } } },
    });
    const again = await postCsv(text, {
      caCertificateId: w.world.caCertificateId,
      batchId: `${w.world.prefix}-lot-a`,
    });
    expect(again).toMatchObject({ status: 200, body: { replay: true } });
    const shown = await w.client("GET", `/batches/${w.world.prefix}-lot-a`);
    expect(shown).toMatchObject({
      status: 200,
      body: {
        batchId: `${w.world.prefix}-lot-a`,
        source: "inline",
        registeredBy: expect.stringContaining("ops-alice"),
      },
    });
    const listed = (await w.client("GET", "/batches", { query: { limit: "100" } })).body as {
      batches: { batchId: string }[];
    };
    expect(listed.batches.map((b) => b.batchId)).toContain(`${w.world.prefix}-lot-a`);
  });

  it("reports duplicates, bad rows and conflicts by line, never overwriting another batch's device", async () => {
    const taken = w.world.id("taken");
    await w.world.allow(`deviceId\n${taken}\n`);
    const fresh = w.world.id("fresh");
    const body = {
      caCertificateId: w.world.caCertificateId,
      devices: [{ deviceId: taken }, { deviceId: fresh }, { deviceId: "bad id" }, { deviceId: fresh }],
    };
    const answer = await w.client("POST", "/batches", { body });
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({
      batch: { state: "PARTIAL", counts: { rows: 4, accepted: 1, conflicts: 1, invalid: 1, duplicates: 1 } },
      issues: [
        {
          kind: "conflict",
          line: 1,
          deviceId: taken,
          message: expect.stringMatching(/already registered in batch/),
        },
        { kind: "invalid", line: 3 },
        { kind: "duplicate", line: 4, message: "duplicate of line 2" },
      ],
    });
  });

  it("refuses a JSON body naming a device's field twice, instead of keeping the last", async () => {
    const [kept, dropped] = [w.world.id("dup-key-1"), w.world.id("dup-key-2")];
    const text = `{"caCertificateId":"${w.world.caCertificateId}","devices":[{"deviceId":"${w.world.id("dup-key-0")}"},{"deviceId":"${dropped}","deviceId":"${kept}"}]}`;
    const answer = await w.client("POST", "/batches", { raw: { contentType: "application/json", text } });
    expect(answer).toMatchObject({
      status: 400,
      body: { errors: ["body: field devices.deviceId appears twice in one object"] },
    });
    expect((await w.client("GET", `/devices/${kept}`)).status).toBe(404);
  });

  it("answers 422 with the bad lines when no row can be registered, and 400 for a malformed request", async () => {
    const rejected = await w.client("POST", "/batches", {
      body: { caCertificateId: w.world.caCertificateId, devices: [{ deviceId: "a/b" }] },
    });
    expect(rejected).toMatchObject({
      status: 422,
      body: { errors: [expect.stringMatching(/^line 1: invalid: deviceId must be/)] },
    });
    const malformed = await w.client("POST", "/batches", { body: { caCertificateId: "nope", devices: [] } });
    expect(malformed.status).toBe(400);
    expect((malformed.body as { errors: string[] }).errors.join("\n")).toMatch(/body\.caCertificateId/);
  });
});

describe("batches: the batch's CA", () => {
  it("answers 400 for a CA IoT Core does not know, and 409 for the same manifest again under another CA", async () => {
    const text = `deviceId\n${w.world.id("ca-checked")}\n`;
    const unknown = "f".repeat(64);
    expect(await postCsv(text, { caCertificateId: unknown })).toMatchObject({
      status: 400,
      body: { detail: `CA ${unknown} is not registered with IoT Core: no device of the batch could connect` },
    });
    const batchId = `${w.world.prefix}-lot-ca`;
    expect((await postCsv(text, { caCertificateId: w.world.caCertificateId, batchId })).status).toBe(201);
    const other = await w.world.anotherCa("Second line");
    expect(await postCsv(text, { caCertificateId: other.caCertificateId, batchId })).toMatchObject({
      status: 409,
      body: { detail: expect.stringContaining(`was registered under CA ${w.world.caCertificateId}`) },
    });
    expect((await w.client("GET", `/batches/${batchId}`)).body).toMatchObject({
      caCertificateId: w.world.caCertificateId,
    });
  });
});

describe("batches: a line without a CA (fleet provisioning only)", () => {
  it("is registered only when the request says fleetOnly, never for a CA left out; an upload carries it too", async () => {
    const text = `deviceId\n${w.world.id("fleet-1")}\n`;
    const neither = await postCsv(text, {});
    expect(neither.status).toBe(400);
    expect((neither.body as { errors: string[] }).errors.join("\n")).toMatch(
      /give exactly one of caCertificateId or fleetOnly/,
    );
    expect(
      (await postCsv(text, { caCertificateId: w.world.caCertificateId, fleetOnly: "true" })).status,
    ).toBe(400);

    const batchId = `${w.world.prefix}-fleet`;
    const registered = await postCsv(text, { fleetOnly: "true", batchId });
    expect(registered.status).toBe(201);
    expect((await w.client("GET", `/batches/${batchId}`)).body).not.toHaveProperty("caCertificateId");

    const { uploadUrl, key, headers, batchId: uploaded } = await uploadTicket({ fleetOnly: true });
    const put = await fetch(uploadUrl, {
      method: "PUT",
      headers,
      body: `${JSON.stringify({ deviceId: w.world.id("fleet-up") })}\n`,
    });
    expect(put.status).toBe(200);
    const { handler: ingest } = await import("#functions/ingest-manifest.js");
    await ingest(s3Event(w.world.bucket, key), context);
    const batch = (await w.client("GET", `/batches/${uploaded}`)).body;
    expect(batch).toMatchObject({ state: "REGISTERED", counts: { accepted: 1 } });
    expect(batch).not.toHaveProperty("caCertificateId");
  });
});

describe("batches: large manifests through S3", () => {
  it("hands out an upload URL; the upload is streamed, checked and registered under the ticket's batch id", async () => {
    const { uploadUrl, key, headers, batchId } = await uploadTicket();
    const rows = Array.from({ length: 250 }, (_, i) =>
      JSON.stringify({ deviceId: w.world.id(`up-${i}`), model: "m2" }),
    );
    const put = await fetch(uploadUrl, { method: "PUT", headers, body: `${rows.join("\n")}\n` });
    expect(put.status).toBe(200);

    const { handler: ingest } = await import("#functions/ingest-manifest.js");
    await ingest(s3Event(w.world.bucket, key), context);

    const batch = await w.client("GET", `/batches/${batchId}`);
    expect(batch).toMatchObject({
      status: 200,
      body: {
        state: "REGISTERED",
        counts: { rows: 250, accepted: 250 },
        source: `s3://${w.world.bucket}/${key}`,
      },
    });
    // The event again (S3 and Lambda may deliver twice): nothing changes.
    await ingest(s3Event(w.world.bucket, key), context);
    expect((await w.client("GET", `/batches/${batchId}`)).body).toEqual(batch.body);
  });
});

describe("batches: an upload replaced between its two reads", () => {
  it("is refused, leaving a FAILED batch saying why, when the bucket keeps no versions", async () => {
    const { uploadUrl, key, headers, batchId } = await uploadTicket();
    const deviceId = w.world.id("swapped");
    await fetch(uploadUrl, { method: "PUT", headers, body: `deviceId,model\n${deviceId},m1\n` });
    const { s3Client } = await import("#adapters/aws-clients.js");
    let reads = 0;
    const swap = "swap-between-passes";
    s3Client().middlewareStack.add(
      (next, context) => async (args) => {
        if ((context as { commandName?: string }).commandName === "GetObjectCommand" && ++reads === 2)
          await fetch(uploadUrl, { method: "PUT", headers, body: `deviceId,model\n${deviceId},m6\n` });
        return next(args);
      },
      { step: "initialize", name: swap },
    );
    const { handler: ingest } = await import("#functions/ingest-manifest.js");
    try {
      await ingest(s3Event(w.world.bucket, key), context);
    } finally {
      s3Client().middlewareStack.remove(swap);
    }

    expect((await w.client("GET", `/batches/${batchId}`)).body).toMatchObject({
      state: "FAILED",
      error: expect.stringMatching(/^manifest changed after it was checked/),
    });
    expect((await w.client("GET", `/devices/${deviceId}`)).status).toBe(404);
  });
});

describe("batches: recall", () => {
  it("revokes every device of a batch through the queue, with visible progress, counting redeliveries once", async () => {
    const ids = Array.from({ length: 30 }, (_, i) => w.world.id(`rc-${i}`));
    const batchId = await w.world.allow(`deviceId\n${ids.join("\n")}\n`);
    const first = await w.world.connect({ deviceId: ids[0] as string });
    await w.jitr(sqsEvent([first]), context);

    const started = await w.client("POST", `/batches/${batchId}/recall`, {
      body: { reason: "lot compromised" },
    });
    expect(started).toMatchObject({ status: 202, body: { recall: { state: "RECALLING", pagesDone: 0 } } });

    // Each page queues the next: run the worker until the queue is empty, delivering the first page twice.
    const { handler: worker } = await import("#functions/recall-worker.js");
    let delivered = 0;
    for (let round = 0; round < 10; round += 1) {
      const messages = await drain(w.world.recallQueueUrl);
      if (messages.length === 0) break;
      delivered += messages.length;
      expect(await worker(recordsOf(messages), context)).toEqual({ batchItemFailures: [] });
      if (round === 0)
        expect(await worker(recordsOf(messages, "2"), context)).toEqual({ batchItemFailures: [] });
    }
    expect(delivered).toBeGreaterThanOrEqual(2);

    const batch = await w.client("GET", `/batches/${batchId}`);
    expect(batch.body).toMatchObject({
      recall: { state: "RECALLED", pagesDone: 2, lastPage: 1, reason: "lot compromised" },
    });
    const revoked = (await w.client("GET", "/devices", { query: { batchId, limit: "100" } })).body as {
      devices: { state: string }[];
    };
    expect(revoked.devices).toHaveLength(30);
    expect(new Set(revoked.devices.map((d) => d.state))).toEqual(new Set(["REVOKED"]));
    const status = await w.world.iot.send(
      new DescribeCertificateCommand({ certificateId: first.certificateId }),
    );
    expect(status.certificateDescription?.status).toBe("REVOKED");
    const history = (await w.client("GET", `/devices/${ids[1]}/events`)).body as {
      events: { type: string }[];
    };
    expect(history.events.map((e) => e.type)).toEqual(["REVOKED"]);

    const again = await w.client("POST", `/batches/${batchId}/recall`, { body: { reason: "again" } });
    expect(again).toMatchObject({
      status: 202,
      body: { recall: { reason: "lot compromised", state: "RECALLED" } },
    });
  });
});

describe("batches: a pre-registration longer than one invocation", () => {
  it("hands the manifest to a new invocation of the function when its window ends, which finishes it", async () => {
    const { issueDeviceCertificate } = await import("#local/dev-pki.js");
    const { ingestManifest } = await import("#functions/ingest-manifest.js");
    const { ingestDeps } = await import("#adapters/wiring/ingest-manifest.js");
    const { loadIngestConfig } = await import("#adapters/config.js");
    const ids = [w.world.id("long-1"), w.world.id("long-2")];
    const rows = await Promise.all(
      ids.map(async (deviceId) => ({
        deviceId,
        certificatePem: (await issueDeviceCertificate(w.world.ca, { deviceId })).pem,
      })),
    );
    const { uploadUrl, key, headers, batchId } = await uploadTicket();
    await fetch(uploadUrl, {
      method: "PUT",
      headers,
      body: `${rows.map((row) => JSON.stringify(row)).join("\n")}\n`,
    });
    const handed: object[] = [];
    const ingest = ingestManifest({
      ...ingestDeps(loadIngestConfig()),
      continuation: { goOn: async (event) => void handed.push(event) },
    });
    // Three minutes left: one for the reserve, two a certificate needs. No certificate can start.
    const ending = { getRemainingTimeInMillis: () => 180_000 } as Context;
    const event = s3Event(w.world.bucket, key);

    await ingest(event, ending);

    expect(handed).toEqual([{ ...event, continuation: { run: 2 } }]);
    // A count that is not a run number counts as the first run.
    await ingest({ ...event, continuation: { run: "x" as unknown as number } }, ending);
    expect(handed.at(-1)).toEqual({ ...event, continuation: { run: 2 } });
    handed.pop();
    expect((await w.client("GET", `/batches/${batchId}`)).body).toMatchObject({ state: "RECEIVED" });
    expect((await w.client("GET", `/devices/${ids[0]}`)).body).toMatchObject({
      device: { state: "ALLOWED" },
    });
    // The last run allowed fails instead: Lambda's retries, then the dead-letter queue and its alarm.
    await expect(ingest({ ...event, continuation: { run: 48 } }, ending)).rejects.toThrow(
      /window|RegisterCertificate/,
    );
    expect(handed).toHaveLength(1);

    await ingest(handed[0] as typeof event, context);

    expect(handed).toHaveLength(1);
    expect((await w.client("GET", `/batches/${batchId}`)).body).toMatchObject({
      state: "REGISTERED",
      counts: { accepted: 2, certificates: { registered: 2, refused: 0 } },
    });
    for (const deviceId of ids)
      expect((await w.client("GET", `/devices/${deviceId}`)).body).toMatchObject({
        device: { state: "ACTIVE" },
      });
  });

  it("fails, for Lambda's retries, a run deferred long before its window's end, without handing anything over", async () => {
    const { ingestManifest } = await import("#functions/ingest-manifest.js");
    const { ingestDeps } = await import("#adapters/wiring/ingest-manifest.js");
    const { loadIngestConfig } = await import("#adapters/config.js");
    const { DeferredError } = await import("#adapters/back-pressure.js");
    const deps = ingestDeps(loadIngestConfig());
    const handed: object[] = [];
    const ingest = ingestManifest({
      ...deps,
      // As when the budget's schedule is contended at the start of a run.
      manifests: {
        ...deps.manifests,
        metadata: async () => {
          throw new DeferredError("RegisterCertificate: no slot of the IoT budget", Date.now() + 1000);
        },
      },
      continuation: { goOn: async (event) => void handed.push(event) },
    });

    await expect(ingest(s3Event(w.world.bucket, "manifests/any.csv"), context)).rejects.toThrow(
      /no slot of the IoT budget/,
    );
    expect(handed).toEqual([]);
  });
});

interface UploadTicket {
  readonly uploadUrl: string;
  readonly key: string;
  readonly headers: Record<string, string>;
  readonly batchId: string;
}

/** An upload ticket from the API, for a batch under the world's CA unless `body` says otherwise. */
const uploadTicket = async (body: object = { caCertificateId: w.world.caCertificateId }) => {
  const ticket = await w.client("POST", "/batches/uploads", { body });
  expect(ticket.status).toBe(201);
  return ticket.body as UploadTicket;
};

const s3Event = (bucket: string, key: string): S3Event =>
  ({
    Records: [
      {
        eventName: "ObjectCreated:Put",
        s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, "/") } },
      },
    ],
  }) as unknown as S3Event;

const drain = async (queueUrl: string) => {
  const sqs = new SQSClient({});
  const all: { MessageId?: string; Body?: string }[] = [];
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (!out.Messages?.length) return all;
    all.push(...out.Messages);
  }
};

const recordsOf = (messages: { MessageId?: string; Body?: string }[], receiveCount = "1"): SQSEvent => {
  const event = sqsEvent(messages.map((m) => m.Body ?? ""));
  for (const record of event.Records) record.attributes.ApproximateReceiveCount = receiveCount;
  return event;
};

describe("fleetgate batch CLI against the API", () => {
  it("registers a manifest file, shows and lists its batch, and recalls it", async () => {
    const { runCli } = await import("#cli/program.js");
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const file = join(mkdtempSync(join(tmpdir(), "fleetgate-")), "lot.csv");
    writeFileSync(file, `deviceId,model\n${w.world.id("cli-1")},m9\n${w.world.id("cli-2")},m9\n`);
    const { io, out, err } = cliAgainst(w);
    const batchId = `${w.world.prefix}-cli-lot`;
    expect(
      await runCli(["batch", "register", file, "--ca", w.world.caCertificateId, "--batch-id", batchId], io),
    ).toBe(0);
    expect(out.at(-1)).toMatch(/state +REGISTERED/);
    expect(await runCli(["batch", "show", batchId, "--json"], io)).toBe(0);
    expect(JSON.parse(out.at(-1) ?? "")).toMatchObject({ batchId, counts: { accepted: 2 } });
    expect(await runCli(["batch", "list"], io)).toBe(0);
    expect(out.at(-1)).toContain(batchId);
    expect(await runCli(["batch", "recall", batchId, "--reason", "qa hold"], io)).toBe(0);
    expect(out.at(-1)).toMatch(/recall RECALLING, 0 pages of 25 devices done/);
    expect(err).toEqual([]);
  });
});

describe("batches: certificate pre-registration", () => {
  it("registers the certificates an uploaded manifest brings and provisions their devices; JITR then finds them ACTIVE", async () => {
    const { issueDeviceCertificate } = await import("#local/dev-pki.js");
    const good = w.world.id("pre-good");
    const weak = w.world.id("pre-weak");
    const goodCert = await issueDeviceCertificate(w.world.ca, { deviceId: good });
    const weakCert = await issueDeviceCertificate(w.world.ca, {
      deviceId: weak,
      key: { type: "RSA", bits: 1024 },
    });
    const manifest = `${JSON.stringify({ deviceId: good, certificatePem: goodCert.pem })}\n${JSON.stringify({ deviceId: weak, certificatePem: weakCert.pem })}\n`;
    const { uploadUrl, key, headers, batchId } = await uploadTicket();
    await fetch(uploadUrl, { method: "PUT", headers, body: manifest });
    const { handler: ingest } = await import("#functions/ingest-manifest.js");

    await ingest(s3Event(w.world.bucket, key), context);

    const batch = await w.client("GET", `/batches/${batchId}`);
    expect(batch.body).toMatchObject({
      counts: { accepted: 2, certificates: { registered: 1, refused: 1 } },
      issues: [{ kind: "certificate", line: 2, deviceId: weak, message: expect.stringMatching(/^KEY_WEAK/) }],
    });
    const device = await w.client("GET", `/devices/${good}`);
    expect(device.body).toMatchObject({ device: { state: "ACTIVE" }, certificate: { status: "ACTIVE" } });

    // Should IoT Core ever publish a JITR event for it, nothing is provisioned twice.
    const { createHash } = await import("node:crypto");
    const certificateId = createHash("sha256")
      .update(Buffer.from(goodCert.certificate.rawData))
      .digest("hex") as never;
    await w.jitr(
      sqsEvent([
        {
          certificateId,
          caCertificateId: w.world.caCertificateId,
          certificateStatus: "PENDING_ACTIVATION",
          awsAccountId: "123456789012",
          timestamp: Date.now(),
        },
      ]),
      context,
    );
    const history = (await w.client("GET", `/devices/${good}/events`)).body as {
      events: { type: string; actor: string }[];
    };
    expect(history.events.map((e) => [e.type, e.actor])).toEqual([
      ["PROVISIONING_STARTED", "manifest"],
      ["ACTIVATED", "manifest"],
    ]);
  });

  it("refuses certificates in an inline manifest, pointing at uploads", async () => {
    const { issueDeviceCertificate } = await import("#local/dev-pki.js");
    const deviceId = w.world.id("pre-inline");
    const cert = await issueDeviceCertificate(w.world.ca, { deviceId });
    const answer = await w.client("POST", "/batches", {
      body: { caCertificateId: w.world.caCertificateId, devices: [{ deviceId, certificatePem: cert.pem }] },
    });
    expect(answer).toMatchObject({
      status: 422,
      body: { errors: [expect.stringMatching(/pre-registered only for uploaded manifests/)] },
    });
  });
});
