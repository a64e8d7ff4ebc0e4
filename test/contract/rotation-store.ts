import { describe, expect, it } from "vitest";
import type { ParkedTimers, RotationLedger } from "#app/ports.js";
import type { RotationCampaigns } from "#app/request-rotation.js";
import type { BoundCertificate, Device } from "#domain/device.js";
import { AlreadyExistsError, ConcurrentUpdateError } from "#domain/errors.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import type { RequestedRotation, RotationCampaign, RotationTimer } from "#domain/rotation.js";

/**
 * What a rotation store promises: run against the in-memory one the use-case tests use and against
 * DynamoDB (moto), so the one the use cases are tested on cannot drift from the deployed one.
 */
export interface RotationStore {
  readonly ledger: RotationLedger;
  readonly campaigns: RotationCampaigns;
  readonly timers: ParkedTimers;
  /** Puts an ACTIVE device in the table, as provisioning leaves it. */
  seed(device: Device): Promise<void>;
}

export const rotationStoreContract = (name: string, makeStore: () => Promise<RotationStore>) => {
  let sequence = 0;
  const unique = (prefix: string) => {
    sequence += 1;
    return `${prefix}-${Date.now().toString(36)}-${sequence}`;
  };
  const certificate = (fill: string): BoundCertificate => {
    const id = fill.repeat(64) as CertificateId;
    return {
      certificateId: id,
      certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${id}`,
      certificateSha256: id,
      publicKeySha256: fill.repeat(64),
      notBefore: "2026-01-01T00:00:00.000Z",
      notAfter: "2027-01-01T00:00:00.000Z",
    };
  };
  const device = (): Device => ({
    deviceId: unique("dev") as DeviceId,
    state: "ACTIVE",
    batchId: "lot" as BatchId,
    caCertificateId: "a".repeat(64) as CaCertificateId,
    attributes: {},
    pins: {},
    certificate: certificate("1"),
    version: 3,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
  });
  const requested: RequestedRotation = {
    rotationId: "r-1",
    state: "REQUESTED",
    requestedAt: "2026-11-25T12:00:00.000Z",
    requestedBy: "operator",
    windows: { commitWithinSeconds: 60, graceSeconds: 5 },
    jobId: "fleetgate-rotate-r-1",
  };
  const campaign = (): RotationCampaign => ({
    campaignId: unique("c"),
    selector: { batchId: "lot" as BatchId },
    windows: { commitWithinSeconds: 60, graceSeconds: 5 },
    requestedBy: "operator",
    createdAt: "2026-11-25T12:00:00.000Z",
    perMinute: 100,
    pagesDone: 0,
    requested: 0,
    skipped: 0,
  });

  describe(`the rotation store (${name})`, () => {
    it("saves a rotation, and at a commit the device's new certificate, with the version one up", async () => {
      const store = await makeStore();
      const read = device();
      await store.seed(read);

      const saved = await store.ledger.saveRotation(read, {
        rotation: requested,
        certificate: certificate("2"),
        events: [
          { deviceId: read.deviceId, at: "2026-11-25T12:00:01.000Z", type: "ROTATION_REQUESTED", actor: "x" },
        ],
      });

      expect(saved).toMatchObject({ version: 4, rotation: requested, certificate: certificate("2") });
      expect(await store.ledger.getDevice(read.deviceId)).toMatchObject({
        state: "ACTIVE",
        version: 4,
        rotation: requested,
        certificate: { certificateId: "2".repeat(64) },
        updatedAt: "2026-11-25T12:00:01.000Z",
      });
    });

    it("refuses a save from a stale read, changing nothing", async () => {
      const store = await makeStore();
      const read = device();
      await store.seed(read);
      await store.ledger.saveRotation(read, { rotation: requested, events: [] });

      await expect(
        store.ledger.saveRotation(read, { rotation: { ...requested, rotationId: "r-2" }, events: [] }),
      ).rejects.toThrow(ConcurrentUpdateError);
      expect((await store.ledger.getDevice(read.deviceId))?.rotation?.rotationId).toBe("r-1");
    });

    it("creates a campaign once, and counts each page once however often it is recorded", async () => {
      const store = await makeStore();
      const created = campaign();
      await store.campaigns.createCampaign(created);
      await expect(store.campaigns.createCampaign(created)).rejects.toThrow(AlreadyExistsError);
      const page = (n: number) => ({
        page: n,
        jobId: `job-${n}`,
        deviceIds: ["d-1", "d-2"] as DeviceId[],
        skipped: [{ deviceId: "d-3" as DeviceId, code: "DEVICE_NOT_ACTIVE" as const }],
        at: "2026-11-25T12:00:00.000Z",
      });

      await store.campaigns.recordPage(created.campaignId, page(0), false);
      await store.campaigns.recordPage(created.campaignId, page(0), false);
      await store.campaigns.recordPage(created.campaignId, page(1), true);

      expect(await store.campaigns.getCampaign(created.campaignId)).toMatchObject({
        pagesDone: 2,
        requested: 4,
        skipped: 2,
        lastPage: 1,
      });
    });

    it("pages a campaign's pages in order, with a cursor", async () => {
      const store = await makeStore();
      const created = campaign();
      await store.campaigns.createCampaign(created);
      for (const n of [2, 0, 10, 1])
        await store.campaigns.recordPage(
          created.campaignId,
          { page: n, deviceIds: [], skipped: [], at: "2026-11-25T12:00:00.000Z" },
          n === 10,
        );
      const first = await store.campaigns.pagePages(created.campaignId, { limit: 3 });
      expect(first.items.map((p) => p.page)).toEqual([0, 1, 2]);
      const rest = await store.campaigns.pagePages(created.campaignId, {
        limit: 3,
        ...(first.cursor ? { cursor: first.cursor } : {}),
      });
      expect(rest.items.map((p) => p.page)).toEqual([10]);
      expect(rest.cursor).toBeUndefined();
    });

    it("hands back parked timers due before a time, soonest first, and forgets one unparked", async () => {
      const store = await makeStore();
      const deviceId = unique("dev") as DeviceId;
      const timer = (dueAt: string, rotationId: string): RotationTimer => ({
        kind: "revoke-replaced",
        deviceId,
        rotationId,
        dueAt,
      });
      const later = timer("2030-01-02T00:00:00.000Z", "r-b");
      const sooner = timer("2030-01-01T00:00:00.000Z", "r-a");
      const far = timer("2031-01-01T00:00:00.000Z", "r-c");
      for (const parked of [later, far, sooner]) await store.timers.park(parked);

      const due = (await store.timers.dueBefore("2030-06-01T00:00:00.000Z", 10)).filter(
        (t) => t.deviceId === deviceId,
      );
      expect(due).toEqual([sooner, later]);

      await store.timers.unpark(sooner);
      await store.timers.unpark(sooner);
      expect(
        (await store.timers.dueBefore("2030-06-01T00:00:00.000Z", 10)).filter((t) => t.deviceId === deviceId),
      ).toEqual([later]);
      for (const parked of [later, far]) await store.timers.unpark(parked);
    });
  });
};
