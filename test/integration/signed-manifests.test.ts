import { createSign, generateKeyPairSync } from "node:crypto";
import { PutBucketVersioningCommand } from "@aws-sdk/client-s3";
import type { Context, S3Event } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { s3Client } from "#adapters/aws-clients.js";
import { type ApiWorld, createApiWorld } from "#test/support/api-world.js";

/** A deployment that requires signed manifests: someone who can write to the bucket cannot add devices. */
const factory = generateKeyPairSync("ec", { namedCurve: "P-256" });
const intruder = generateKeyPairSync("ec", { namedCurve: "P-256" });
const sign = (key: typeof factory.privateKey, text: string) =>
  createSign("sha256").update(text).sign(key).toString("base64");

let w: ApiWorld;

beforeAll(async () => {
  process.env.FACTORY_PUBLIC_KEYS = factory.publicKey.export({ type: "spki", format: "pem" }).toString();
  w = await createApiWorld(inject("motoEndpoint"));
});

afterAll(async () => {
  await w?.api.close();
  delete process.env.FACTORY_PUBLIC_KEYS;
});

const postCsv = (text: string, signature?: string) =>
  w.client("POST", "/batches", {
    query: { caCertificateId: w.world.caCertificateId },
    raw: { contentType: "text/csv", text },
    ...(signature ? { headers: { "x-manifest-signature": signature } } : {}),
  });

describe("signed manifests, inline", () => {
  it("accepts a manifest signed by a factory key", async () => {
    const text = `deviceId\n${w.world.id("signed")}\n`;
    expect((await postCsv(text, sign(factory.privateKey, text))).status).toBe(201);
  });

  it("refuses unsigned, wrongly signed and tampered manifests with a clear reason, registering nothing", async () => {
    const text = `deviceId\n${w.world.id("unsigned")}\n`;
    expect(await postCsv(text)).toMatchObject({
      status: 400,
      body: { detail: "manifest signature is required and missing" },
    });
    expect(await postCsv(text, sign(intruder.privateKey, text))).toMatchObject({
      status: 400,
      body: { detail: expect.stringMatching(/does not verify/) },
    });
    const signedOther = sign(factory.privateKey, `deviceId\n${w.world.id("other")}\n`);
    expect((await postCsv(text, signedOther)).status).toBe(400);
    expect((await w.client("GET", `/devices/${w.world.id("unsigned")}`)).status).toBe(404);
  });
});

describe("signed manifests, through S3", () => {
  const upload = async (text: string, signature?: string) => {
    const ticket = await w.client("POST", "/batches/uploads", {
      body: { caCertificateId: w.world.caCertificateId, ...(signature ? { signature } : {}) },
    });
    const { uploadUrl, key, headers, batchId } = ticket.body as {
      uploadUrl: string;
      key: string;
      headers: Record<string, string>;
      batchId: string;
    };
    expect((await fetch(uploadUrl, { method: "PUT", headers, body: text })).status).toBe(200);
    const { handler: ingest } = await import("#functions/ingest-manifest.js");
    const event = {
      Records: [{ s3: { bucket: { name: w.world.bucket }, object: { key } } }],
    } as unknown as S3Event;
    await ingest(event, {} as Context);
    return (await w.client("GET", `/batches/${batchId}`)).body as Record<string, unknown>;
  };

  it("registers a signed upload", async () => {
    const text = `deviceId\n${w.world.id("s3-signed")}\n`;
    expect(await upload(text, sign(factory.privateKey, text))).toMatchObject({
      state: "REGISTERED",
      counts: { accepted: 1 },
    });
  });

  it("records a FAILED batch saying why when an upload is unsigned or signed by someone else", async () => {
    const text = `deviceId\n${w.world.id("s3-forged")}\n`;
    expect(await upload(text)).toMatchObject({
      state: "FAILED",
      error: "manifest signature is required and missing",
    });
    expect(await upload(text, sign(intruder.privateKey, text))).toMatchObject({
      state: "FAILED",
      error: expect.stringMatching(/does not verify/),
    });
    expect((await w.client("GET", `/devices/${w.world.id("s3-forged")}`)).status).toBe(404);
  });
});

describe("signed manifests, through a versioned bucket", () => {
  it("registers the version whose signature it checked, even when the upload URL is used again between the two reads", async () => {
    await s3Client().send(
      new PutBucketVersioningCommand({
        Bucket: w.world.bucket,
        VersioningConfiguration: { Status: "Enabled" },
      }),
    );
    const deviceId = w.world.id("s3-swapped");
    const text = `deviceId,model\n${deviceId},m1\n`;
    const ticket = await w.client("POST", "/batches/uploads", {
      body: { caCertificateId: w.world.caCertificateId, signature: sign(factory.privateKey, text) },
    });
    const { uploadUrl, key, headers, batchId } = ticket.body as {
      uploadUrl: string;
      key: string;
      headers: Record<string, string>;
      batchId: string;
    };
    const put = await fetch(uploadUrl, { method: "PUT", headers, body: text });
    const versionId = put.headers.get("x-amz-version-id");
    expect(versionId).toBeTruthy();

    // The URL is still valid: between the check and the write, someone uploads other rows with it.
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
      await ingest(
        {
          Records: [{ s3: { bucket: { name: w.world.bucket }, object: { key, versionId } } }],
        } as unknown as S3Event,
        {} as Context,
      );
    } finally {
      s3Client().middlewareStack.remove(swap);
    }

    expect(reads).toBe(2);
    expect((await w.client("GET", `/batches/${batchId}`)).body).toMatchObject({
      state: "REGISTERED",
      counts: { accepted: 1 },
    });
    expect((await w.client("GET", `/devices/${deviceId}`)).body).toMatchObject({ device: { model: "m1" } });
  });
});
