import { createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { type BatchDeps, registerBatch } from "#app/register-batch.js";
import { AlreadyExistsError, ConflictError, ValidationError } from "#domain/errors.js";
import { DEFAULT_MANIFEST_RULES } from "#domain/manifest.js";
import { parseFactoryKeys } from "#domain/manifest-signature.js";
import { createCa, issueDeviceCertificate } from "#local/dev-pki.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const CA = "a".repeat(64);
const OTHER_CA = "b".repeat(64);
let store: InMemoryLifecycleStore;
let registry: FakeRegistry;
let deps: BatchDeps;

beforeEach(() => {
  store = new InMemoryLifecycleStore();
  registry = new FakeRegistry();
  for (const id of [CA, OTHER_CA])
    registry.cas.set(id, {
      caCertificateId: id as never,
      status: "ACTIVE",
      pem: "",
      autoRegistration: "ENABLE",
    });
  deps = {
    store,
    clock: { now: () => new Date("2026-11-25T10:00:00Z") },
    manifestRules: DEFAULT_MANIFEST_RULES,
    caRegistry: registry,
  };
});

const register = (manifest: string, extra: { batchId?: string; caCertificateId?: string } = {}) =>
  registerBatch(deps, {
    open: () => [Buffer.from(manifest)],
    caCertificateId: CA,
    actor: "factory-7",
    source: "test",
    ...extra,
  });

describe("registerBatch", () => {
  it("puts every valid row on the allowlist as ALLOWED under a batch id derived from the manifest", async () => {
    const result = await register("deviceId,model,attr.color\nd-1,m1,red\nd-2,m1,blue\n");

    expect(result.replay).toBe(false);
    expect(result.batch).toMatchObject({
      batchId: expect.stringMatching(/^batch-[0-9a-f]{16}$/),
      state: "REGISTERED",
      registeredBy: "factory-7",
      counts: { rows: 2, accepted: 2, duplicates: 0, conflicts: 0, invalid: 0 },
    });
    expect(store.devices.get("d-2")).toMatchObject({
      state: "ALLOWED",
      batchId: result.batch.batchId,
      caCertificateId: CA,
      model: "m1",
      attributes: { color: "blue" },
    });
  });

  it("changes nothing when the same manifest comes again, and says so", async () => {
    const manifest = "deviceId\nd-1\nd-2\n";
    const first = await register(manifest);
    const second = await register(manifest);
    expect(second).toEqual({ batch: first.batch, replay: true, issues: [] });
  });

  it("reports invalid rows and duplicates by line and registers the rest as PARTIAL", async () => {
    const result = await register(
      '{"deviceId":"d-1"}\n{"deviceId":"bad id"}\n{"deviceId":"d-1"}\nnot json\n',
    );
    expect(result.batch.state).toBe("PARTIAL");
    expect(result.batch.counts).toMatchObject({ rows: 4, accepted: 1, duplicates: 1, invalid: 2 });
    expect(result.issues).toEqual([
      { kind: "invalid", line: 2, deviceId: "bad id", message: expect.stringContaining("deviceId must be") },
      { kind: "duplicate", line: 3, deviceId: "d-1", message: "duplicate of line 1" },
      { kind: "invalid", line: 4, message: "line is not valid JSON" },
    ]);
  });

  it("never overwrites a device of another batch or with other pins: it reports a conflict", async () => {
    await register("deviceId\nd-1\n", { batchId: "lot-1" });
    const result = await register("deviceId,certificateSha256\nd-1,\nd-2,\n", { batchId: "lot-2" });
    expect(result.issues).toEqual([
      { kind: "conflict", line: 2, deviceId: "d-1", message: "already registered in batch lot-1" },
    ]);
    expect(store.devices.get("d-1")?.batchId).toBe("lot-1");
    expect(result.batch).toMatchObject({ state: "PARTIAL", counts: { accepted: 1, conflicts: 1 } });
  });

  it("refuses another manifest under a batch id already used", async () => {
    await register("deviceId\nd-1\n", { batchId: "lot-1" });
    await expect(register("deviceId\nd-9\n", { batchId: "lot-1" })).rejects.toThrow(AlreadyExistsError);
    expect(store.devices.has("d-9")).toBe(false);
  });

  it("finishes a batch whose registration was interrupted", async () => {
    const manifest = "deviceId\nd-1\nd-2\n";
    const addDevices = store.addDevices.bind(store);
    store.addDevices = async () => {
      throw new Error("crash");
    };
    await expect(register(manifest)).rejects.toThrow("crash");
    store.addDevices = addDevices;
    const result = await register(manifest);
    expect(result).toMatchObject({ replay: false, batch: { state: "REGISTERED", counts: { accepted: 2 } } });
  });

  it("reads a manifest in any chunking, never holding more than it must", async () => {
    const text = "deviceId,model\nd-1,m1\nd-2,m2\n";
    const result = await registerBatch(deps, {
      open: () => [...Buffer.from(text)].map((byte) => Uint8Array.of(byte)),
      caCertificateId: CA,
      actor: "t",
      source: "t",
    });
    expect(result.batch.counts?.accepted).toBe(2);
  });

  it("refuses a manifest whole when one record exceeds 64 KB, naming its line, and writes nothing", async () => {
    const text = Buffer.from(`deviceId,model\nd-1,m1\nd-2,${"x".repeat(70 * 1024)}\nd-3,m3\n`);
    const chunks = Array.from({ length: Math.ceil(text.length / 4096) }, (_, i) =>
      text.subarray(i * 4096, (i + 1) * 4096),
    );
    await expect(
      registerBatch(deps, { open: () => chunks, caCertificateId: CA, actor: "t", source: "t" }),
    ).rejects.toThrow("manifest cannot be read: line 3: a record is longer than 65536 characters");
    expect(store.devices.size + store.batches.size).toBe(0);
  });

  it("writes only the bytes it checked: a manifest that changes between its two reads is refused", async () => {
    const checked = Buffer.from(`deviceId,certificateSha256\nd-1,${"a".repeat(64)}\n`);
    const swapped = Buffer.from(`deviceId,certificateSha256\nd-1,${"b".repeat(64)}\n`);
    let reads = 0;
    const changing = () => (++reads === 1 ? [checked] : [swapped]);

    await expect(
      registerBatch(deps, { open: changing, caCertificateId: CA, batchId: "lot-1", actor: "t", source: "t" }),
    ).rejects.toThrow(/changed after it was checked/);
    expect(store.devices.has("d-1")).toBe(false);
    expect(store.batches.get("lot-1")).toMatchObject({
      state: "FAILED",
      error: expect.stringMatching(/changed after it was checked/),
    });
  });

  it("writes nothing past the point where a large manifest changed between its reads", async () => {
    const rows = (model: string) =>
      Buffer.from(
        `deviceId,model\n${Array.from({ length: 20_000 }, (_, i) => `d-${i},${model}`).join("\n")}\n`,
      );
    const checked = rows("m1");
    // Same length, different bytes from the middle on.
    const swapped = Buffer.concat([
      checked.subarray(0, checked.length / 2),
      rows("m2").subarray(checked.length / 2),
    ]);
    let reads = 0;
    const open = () => [++reads === 1 ? checked : swapped];

    await expect(registerBatch(deps, { open, caCertificateId: CA, actor: "t", source: "t" })).rejects.toThrow(
      /changed after it was checked/,
    );
    expect([...store.devices.values()].filter((device) => device.model !== "m1")).toEqual([]);
    expect(store.devices.size).toBeLessThan(10_000);
  });

  it("marks a batch with no usable row FAILED", async () => {
    const result = await register("deviceId\nbad id\n");
    expect(result.batch.state).toBe("FAILED");
  });

  it("refuses a malformed manifest or CA id with a clear message and writes nothing", async () => {
    await expect(register("deviceID\nx\n")).rejects.toThrow(/unknown column\(s\) deviceID/);
    await expect(register("deviceId\nx\n", { caCertificateId: "nope" })).rejects.toThrow(ValidationError);
    expect(store.devices.size + store.batches.size).toBe(0);
  });
});

describe("registerBatch without a CA (a line born through fleet provisioning)", () => {
  const fleetOnly = (manifest: string, preRegister?: () => never) =>
    registerBatch(deps, {
      open: () => [Buffer.from(manifest)],
      actor: "factory-7",
      source: "test",
      ...(preRegister ? { preRegister } : {}),
    });

  it("registers its devices with no CA, asking IoT Core about none", async () => {
    registry.cas.clear();
    const result = await fleetOnly("deviceId,model\nf-1,m1\n");

    expect(result.batch).toMatchObject({ state: "REGISTERED", counts: { accepted: 1 } });
    expect(result.batch).not.toHaveProperty("caCertificateId");
    expect(store.devices.get("f-1")).toMatchObject({ state: "ALLOWED", model: "m1" });
    expect(store.devices.get("f-1")).not.toHaveProperty("caCertificateId");
  });

  it("refuses rows that bring a certificate or approve a replacement: no CA could vouch for them", async () => {
    const ca = await createCa();
    const { pem } = await issueDeviceCertificate(ca, { deviceId: "f-2" });
    const manifest = [
      JSON.stringify({ deviceId: "f-1" }),
      JSON.stringify({ deviceId: "f-2", certificatePem: pem }),
      JSON.stringify({
        deviceId: "f-3",
        certificateSha256: "d".repeat(64),
        replacesCertificateSha256: "e".repeat(64),
      }),
    ].join("\n");
    const result = await fleetOnly(manifest, () => {
      throw new Error("nothing is pre-registered for a batch without a CA");
    });

    expect(result.batch).toMatchObject({ state: "PARTIAL", counts: { accepted: 1, invalid: 2 } });
    expect(result.issues).toEqual([
      expect.objectContaining({
        line: 2,
        message: expect.stringMatching(/^certificatePem: a batch without a CA/),
      }),
      expect.objectContaining({
        line: 3,
        message: expect.stringMatching(/^replacesCertificateSha256: a batch without a CA/),
      }),
    ]);
  });

  it("keeps having no CA: the same manifest again naming one is a conflict", async () => {
    const first = await fleetOnly("deviceId\nf-1\n");
    await expect(register("deviceId\nf-1\n", { batchId: first.batch.batchId })).rejects.toThrow(
      `batch ${first.batch.batchId} was registered under no CA (fleet provisioning only), not CA ${CA}`,
    );
  });
});

describe("registerBatch checks the batch's CA", () => {
  it("refuses a CA IoT Core does not know, and one that is not ACTIVE, writing nothing", async () => {
    const unknown = "c".repeat(64);
    await expect(register("deviceId\nd-1\n", { caCertificateId: unknown })).rejects.toThrow(
      new ValidationError(
        `CA ${unknown} is not registered with IoT Core: no device of the batch could connect`,
      ),
    );
    registry.setCaStatus(OTHER_CA, "INACTIVE");
    await expect(register("deviceId\nd-1\n", { caCertificateId: OTHER_CA })).rejects.toThrow(
      new ValidationError(
        `CA ${OTHER_CA} is INACTIVE: no device of the batch could connect until it is activated`,
      ),
    );
    expect(store.devices.size + store.batches.size).toBe(0);
  });

  it("registers under a CA with auto-registration off, and says so in a warning", async () => {
    registry.cas.set(OTHER_CA, {
      caCertificateId: OTHER_CA as never,
      status: "ACTIVE",
      pem: "",
      autoRegistration: "DISABLE",
    });
    const result = await register("deviceId\nd-1\n", { caCertificateId: OTHER_CA });
    expect(result.batch).toMatchObject({
      state: "REGISTERED",
      warnings: [expect.stringMatching(/auto-registration is off.*pre-registered/)],
    });
    expect((await register("deviceId\nd-2\n")).batch.warnings).toBeUndefined();
  });

  it("answers a conflict when the same manifest comes again naming another CA, and keeps the batch as it was", async () => {
    const first = await register("deviceId\nd-1\n", { caCertificateId: OTHER_CA });
    await expect(register("deviceId\nd-1\n")).rejects.toThrow(ConflictError);
    await expect(register("deviceId\nd-1\n")).rejects.toThrow(
      `batch ${first.batch.batchId} was registered under CA ${OTHER_CA}, not CA ${CA}`,
    );
    expect(store.batches.get(first.batch.batchId)).toEqual(first.batch);
    expect(store.devices.get("d-1")?.caCertificateId).toBe(OTHER_CA);
  });
});

describe("registerBatch with signed manifests required", () => {
  const factory = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const manifest = Buffer.from("deviceId\nsigned-1\n");
  const sign = (key: KeyObject, bytes: Buffer, dsaEncoding: "der" | "ieee-p1363" = "der") =>
    createSign("sha256").update(bytes).sign({ key, dsaEncoding }).toString("base64");
  const signedDeps = () => ({
    ...deps,
    factoryKeys: parseFactoryKeys([factory.publicKey.export({ type: "spki", format: "pem" }).toString()]),
  });
  const submit = (signature?: string, bytes = manifest) =>
    registerBatch(signedDeps(), {
      open: () => [bytes],
      caCertificateId: CA,
      actor: "t",
      source: "t",
      ...(signature ? { signature } : {}),
    });

  it("accepts a manifest signed by a factory key, DER or raw", async () => {
    expect((await submit(sign(factory.privateKey, manifest))).batch.state).toBe("REGISTERED");
    const raw = Buffer.from("deviceId\nsigned-2\n");
    expect((await submit(sign(factory.privateKey, raw, "ieee-p1363"), raw)).batch.state).toBe("REGISTERED");
  });

  it("refuses an unsigned manifest, one signed by another key, and a tampered one, writing nothing", async () => {
    await expect(submit()).rejects.toThrow("manifest signature is required and missing");
    await expect(submit(sign(other.privateKey, manifest))).rejects.toThrow(/does not verify/);
    const tampered = Buffer.from("deviceId\nsigned-1\nintruder\n");
    await expect(submit(sign(factory.privateKey, manifest), tampered)).rejects.toThrow(/does not verify/);
    expect(store.devices.size + store.batches.size).toBe(0);
  });
});
