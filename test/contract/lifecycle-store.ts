import { describe, expect, it } from "vitest";
import type { LifecycleStore } from "#app/ports.js";
import type { BatchRecord } from "#domain/batch.js";
import type { BoundCertificate, Device, DeviceEvent } from "#domain/device.js";
import { AlreadyExistsError, ConcurrentUpdateError, ValidationError } from "#domain/errors.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { refuse } from "#domain/refusal.js";

/**
 * What every lifecycle store promises, role by role: run against the in-memory store the unit
 * tests use and against DynamoDB (moto), so the one the use cases are tested on cannot drift
 * from the one that is deployed.
 */
export const lifecycleStoreContract = (name: string, makeStore: () => Promise<LifecycleStore>) => {
  let sequence = 0;
  const unique = (prefix: string) => {
    sequence += 1;
    return `${prefix}-${Date.now().toString(36)}-${sequence}`;
  };
  const CA = "a".repeat(64) as CaCertificateId;
  const OTHER_CA = "b".repeat(64) as CaCertificateId;
  const at = (second: number) => new Date(Date.UTC(2026, 10, 25, 12, 0, second)).toISOString();
  const certificateId = () =>
    unique("c")
      .replace(/[^0-9a-f]/g, "")
      .padEnd(64, "c")
      .slice(0, 64) as CertificateId;

  const entry = (overrides: Partial<Device> = {}): Device => ({
    deviceId: unique("dev") as DeviceId,
    state: "ALLOWED",
    batchId: "batch-a" as BatchId,
    caCertificateId: CA,
    attributes: { color: "red" },
    pins: {},
    version: 1,
    createdAt: at(0),
    updatedAt: at(0),
    ...overrides,
  });
  const bound = (id: CertificateId): BoundCertificate => ({
    certificateId: id,
    certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${id}`,
    certificateSha256: "1".repeat(64),
    publicKeySha256: "2".repeat(64),
    notBefore: at(0),
    notAfter: at(59),
  });
  const event = (device: Device, type: DeviceEvent["type"], second: number): DeviceEvent => ({
    deviceId: device.deviceId,
    at: at(second),
    type,
    actor: "contract",
  });
  const batch = (overrides: Partial<BatchRecord> = {}): BatchRecord =>
    ({
      batchId: unique("batch") as BatchId,
      caCertificateId: CA,
      manifestSha256: "d".repeat(64),
      source: "contract",
      registeredBy: "contract",
      registeredAt: at(0),
      updatedAt: at(0),
      state: "RECEIVED",
      ...overrides,
    }) as BatchRecord;

  const allowed = async (store: LifecycleStore, overrides: Partial<Device> = {}) => {
    const device = entry(overrides);
    expect(await store.addDevices([device])).toEqual([{ kind: "added" }]);
    return device;
  };

  describe(`${name}: the device ledger`, () => {
    it("reads a device by its id, and nothing for an id it does not hold", async () => {
      const store = await makeStore();
      const device = await allowed(store);
      expect(await store.getDevice(device.deviceId)).toMatchObject({
        deviceId: device.deviceId,
        state: "ALLOWED",
      });
      expect(await store.getDevice("nobody" as DeviceId)).toBeUndefined();
    });

    it("moves a device with its event, only from the version it was read at", async () => {
      const store = await makeStore();
      const device = await allowed(store);
      const moved = await store.transition(device, "REVOKED", event(device, "REVOKED", 1));
      expect(moved).toMatchObject({ state: "REVOKED", version: 2 });
      expect(await store.getDevice(device.deviceId)).toMatchObject({ state: "REVOKED", version: 2 });
      await expect(store.transition(device, "SUSPENDED", event(device, "SUSPENDED", 2))).rejects.toThrow(
        ConcurrentUpdateError,
      );
      expect((await store.listEvents(device.deviceId)).map((e) => e.type)).toEqual(["REVOKED"]);
    });

    it("lists a device's history oldest first, and pages it newest first on request", async () => {
      const store = await makeStore();
      let device = await allowed(store);
      device = await store.transition(device, "REVOKED", event(device, "REVOKED", 1));
      device = await store.transition(device, "DECOMMISSIONED", event(device, "DECOMMISSIONED", 2));
      expect((await store.listEvents(device.deviceId)).map((e) => e.type)).toEqual([
        "REVOKED",
        "DECOMMISSIONED",
      ]);
      const newest = await store.pageEvents(device.deviceId, { limit: 1, newestFirst: true });
      expect(newest.items.map((e) => e.type)).toEqual(["DECOMMISSIONED"]);
      const next = await store.pageEvents(device.deviceId, {
        limit: 1,
        newestFirst: true,
        cursor: newest.cursor ?? "",
      });
      expect(next.items.map((e) => e.type)).toEqual(["REVOKED"]);
    });

    it("pages devices of a batch, and refuses a cursor of another query", async () => {
      const store = await makeStore();
      const batchId = unique("lot") as BatchId;
      for (let i = 0; i < 3; i += 1) await allowed(store, { batchId });
      const first = await store.pageDevices({ batchId }, { limit: 2 });
      expect(first.items).toHaveLength(2);
      const rest = await store.pageDevices({ batchId }, { limit: 2, cursor: first.cursor ?? "" });
      expect(rest.items).toHaveLength(1);
      expect(rest.cursor).toBeUndefined();
      const ids = [...first.items, ...rest.items].map((d) => d.deviceId);
      expect(new Set(ids).size).toBe(3);
      await expect(
        store.pageDevices({ batchId: unique("other") as BatchId }, { limit: 2, cursor: first.cursor ?? "" }),
      ).rejects.toThrow(ValidationError);
      await expect(store.pageDevices({ batchId }, { limit: 2, cursor: "not a cursor" })).rejects.toThrow(
        ValidationError,
      );
    });
  });

  describe(`${name}: the provisioning ledger`, () => {
    it("claims an ALLOWED entry for one certificate; a second claim from the same version fails", async () => {
      const store = await makeStore();
      const device = await allowed(store);
      const certificate = certificateId();
      const claimed = await store.claim(device, bound(certificate), event(device, "PROVISIONING_STARTED", 1));
      expect(claimed).toMatchObject({
        state: "PROVISIONING",
        version: 2,
        certificate: { certificateId: certificate },
      });
      await expect(
        store.claim(device, bound(certificateId()), event(device, "PROVISIONING_STARTED", 2)),
      ).rejects.toThrow(ConcurrentUpdateError);
      const state = await store.readProvisioningState(certificate, device.deviceId);
      expect(state.device).toMatchObject({ state: "PROVISIONING" });
      expect(state.record).toMatchObject({ outcome: "ASSIGNED", deviceId: device.deviceId });
    });

    it("activates only a claim bound to the same certificate", async () => {
      const store = await makeStore();
      const device = await allowed(store);
      const claimed = await store.claim(
        device,
        bound(certificateId()),
        event(device, "PROVISIONING_STARTED", 1),
      );
      const impostor = { ...claimed, certificate: bound(certificateId()) };
      await expect(store.activate(impostor, event(device, "ACTIVATED", 2))).rejects.toThrow(
        ConcurrentUpdateError,
      );
      expect(await store.activate(claimed, event(device, "ACTIVATED", 3))).toMatchObject({
        state: "ACTIVE",
        version: 3,
      });
    });

    it("releases a claim back to ALLOWED with the certificate's record", async () => {
      const store = await makeStore();
      const device = await allowed(store);
      const certificate = certificateId();
      const claimed = await store.claim(device, bound(certificate), event(device, "PROVISIONING_STARTED", 1));
      const refusal = refuse("PROVISIONING_FAILED", "certificate became REVOKED");
      await store.release(
        claimed,
        { certificateId: certificate, outcome: "REJECTED", refusal, deviceId: device.deviceId, at: at(2) },
        event(device, "PROVISIONING_FAILED", 2),
      );
      const state = await store.readProvisioningState(certificate, device.deviceId);
      expect(state.device).toMatchObject({ state: "ALLOWED", version: 3 });
      expect(state.device?.certificate).toBeUndefined();
      expect(state.record).toMatchObject({ outcome: "REJECTED", refusal });
    });

    it("records a refusal once, however often it is told", async () => {
      const store = await makeStore();
      const certificate = certificateId();
      const record = {
        certificateId: certificate,
        outcome: "REJECTED" as const,
        refusal: refuse("KEY_WEAK"),
        at: at(1),
      };
      expect(await store.recordRefusal(record, undefined)).toBe(true);
      expect(await store.recordRefusal(record, undefined)).toBe(false);
      expect((await store.readProvisioningState(certificate, undefined)).record).toMatchObject({
        outcome: "REJECTED",
      });
    });

    it("keeps when a certificate first waited and counts its sightings, until it is claimed", async () => {
      const store = await makeStore();
      const certificate = certificateId();
      const sighting = (second: number) => ({
        certificateId: certificate,
        outcome: "WAITING" as const,
        refusal: refuse("NOT_ON_ALLOWLIST"),
        caCertificateId: CA,
        at: at(second),
      });
      expect(await store.recordWaiting(sighting(1), undefined)).toBe(at(1));
      expect(await store.recordWaiting(sighting(5), undefined)).toBe(at(1));
      expect((await store.readProvisioningState(certificate, undefined)).record).toMatchObject({
        outcome: "WAITING",
        firstSeenAt: at(1),
        lastSeenAt: at(5),
        attempts: 2,
      });
      const device = await allowed(store);
      await store.claim(device, bound(certificate), event(device, "PROVISIONING_STARTED", 6));
      await expect(store.recordWaiting(sighting(7), undefined)).rejects.toThrow(ConcurrentUpdateError);
    });

    it("writes a waiting certificate's first sighting with its device's event, and no event for the later ones", async () => {
      const store = await makeStore();
      const device = entry();
      const certificate = certificateId();
      const sighting = (second: number) => ({
        certificateId: certificate,
        outcome: "WAITING" as const,
        refusal: refuse("NOT_ON_ALLOWLIST"),
        deviceId: device.deviceId,
        caCertificateId: CA,
        at: at(second),
      });
      expect(await store.recordWaiting(sighting(1), event(device, "CERTIFICATE_WAITING", 1))).toBe(at(1));
      expect(await store.recordWaiting(sighting(3), event(device, "CERTIFICATE_WAITING", 3))).toBe(at(1));

      const { deviceId: _named, ...unnamed } = sighting(4);
      await store.recordWaiting(unnamed, undefined);

      expect(await store.listEvents(device.deviceId)).toEqual([event(device, "CERTIFICATE_WAITING", 1)]);
      expect((await store.readProvisioningState(certificate, device.deviceId)).record).toMatchObject({
        deviceId: device.deviceId,
        attempts: 3,
      });
    });

    it("records no waiting over a refusal, and adds no event then", async () => {
      const store = await makeStore();
      const device = entry();
      const refused = certificateId();
      await store.recordRefusal(
        { certificateId: refused, outcome: "REJECTED", refusal: refuse("KEY_WEAK"), at: at(1) },
        undefined,
      );
      const sighting = {
        certificateId: refused,
        outcome: "WAITING" as const,
        refusal: refuse("NOT_ON_ALLOWLIST"),
        deviceId: device.deviceId,
        caCertificateId: CA,
        at: at(2),
      };

      await expect(store.recordWaiting(sighting, event(device, "CERTIFICATE_WAITING", 2))).rejects.toThrow(
        ConcurrentUpdateError,
      );
      expect(await store.listEvents(device.deviceId)).toEqual([]);
      expect((await store.readProvisioningState(refused, undefined)).record).toMatchObject({
        outcome: "REJECTED",
      });
    });

    it("claims a certificate that waited, never one already refused", async () => {
      const store = await makeStore();
      const refused = certificateId();
      await store.recordRefusal(
        { certificateId: refused, outcome: "REJECTED", refusal: refuse("KEY_WEAK"), at: at(1) },
        undefined,
      );
      const device = await allowed(store);
      await expect(
        store.claim(device, bound(refused), event(device, "PROVISIONING_STARTED", 2)),
      ).rejects.toThrow(ConcurrentUpdateError);
    });
  });

  describe(`${name}: the allowlist`, () => {
    it("adds new entries and never overwrites one: the same entry is unchanged, another batch's, CA's or pins' a conflict", async () => {
      const store = await makeStore();
      const device = await allowed(store, { pins: { publicKeySha256: "e".repeat(64) } });
      // One call per attempt: a manifest never names a device twice (it is refused as a duplicate).
      const results = [];
      for (const attempt of [
        { ...device },
        { ...device, batchId: "batch-b" as BatchId },
        { ...device, caCertificateId: OTHER_CA },
        { ...device, pins: { publicKeySha256: "f".repeat(64) } },
      ])
        results.push(...(await store.addDevices([attempt])));
      expect(results.map((r) => r.kind)).toEqual(["unchanged", "conflict", "conflict", "conflict"]);
      expect(await store.getDevice(device.deviceId)).toMatchObject({
        batchId: "batch-a",
        caCertificateId: CA,
      });
    });
  });

  describe(`${name}: batch records and recalls`, () => {
    it("creates a batch once, finishes it, and lists batches newest first", async () => {
      const store = await makeStore();
      const older = batch({ registeredAt: "2026-11-25T10:00:00.000Z" });
      const newer = batch({ registeredAt: "2026-11-25T11:00:00.000Z" });
      await store.createBatch(older);
      await store.createBatch(newer);
      await expect(store.createBatch(older)).rejects.toThrow(AlreadyExistsError);
      await store.finishBatch({ ...older, state: "REGISTERED" });
      expect(await store.getBatch(older.batchId)).toMatchObject({ state: "REGISTERED" });
      const listed = (await store.pageBatches({ limit: 100 })).items.map((b) => b.batchId);
      expect(listed.indexOf(newer.batchId)).toBeLessThan(listed.indexOf(older.batchId));
    });

    it("starts a recall once, queues each page once, counts each page once and notes the last", async () => {
      const store = await makeStore();
      const record = batch();
      await store.createBatch(record);
      expect(await store.claimRecallPage(record.batchId, 0)).toBe(false); // no recall yet
      const recall = {
        reason: "lot",
        requestedBy: "contract",
        requestedAt: at(1),
        pagesDone: 0,
        failures: [],
      };
      await store.startRecall(record.batchId, recall);
      await expect(store.startRecall(record.batchId, recall)).rejects.toThrow(AlreadyExistsError);
      expect(await store.claimRecallPage(record.batchId, 0)).toBe(true);
      expect(await store.claimRecallPage(record.batchId, 0)).toBe(false);
      const failure = { deviceId: "dev-x" as DeviceId, page: 0, reason: "denied" };
      await store.recallPageDone(record.batchId, 0, false, [failure]);
      await store.recallPageDone(record.batchId, 0, false, [failure]);
      await store.recallPageDone(record.batchId, 1, true, []);
      expect((await store.getBatch(record.batchId))?.recall).toMatchObject({
        pagesDone: 2,
        lastPage: 1,
        failures: [failure],
      });
    });
  });
};
