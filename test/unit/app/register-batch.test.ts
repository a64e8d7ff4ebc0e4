import { beforeEach, describe, expect, it } from "vitest";
import { type BatchDeps, registerBatch } from "#app/register-batch.js";
import { AlreadyExistsError, ValidationError } from "#domain/errors.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const CA = "a".repeat(64);
let store: InMemoryLifecycleStore;
let deps: BatchDeps;

beforeEach(() => {
  store = new InMemoryLifecycleStore();
  deps = {
    store,
    clock: { now: () => new Date("2026-11-25T10:00:00Z") },
    manifestRules: { maxThingAttributes: 3 },
  };
});

const register = (manifest: string, extra: { batchId?: string; caCertificateId?: string } = {}) =>
  registerBatch(deps, {
    manifest: Buffer.from(manifest),
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
      counts: { rows: 2, accepted: 2, unchanged: 0, duplicates: 0, conflicts: 0, invalid: 0 },
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
