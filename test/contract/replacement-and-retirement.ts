import { describe, expect, it } from "vitest";
import type { LifecycleStore } from "#app/ports.js";
import type { BoundCertificate, Device, DeviceEvent } from "#domain/device.js";
import { ConcurrentUpdateError } from "#domain/errors.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { refuse } from "#domain/refusal.js";
import type { ReplacementApproval } from "#domain/replacement.js";

/**
 * What the lifecycle store promises for approvals of replacement certificates and for the
 * retirement queue, run against the in-memory store and DynamoDB (moto), as test/contract/
 * lifecycle-store.ts does for the other roles. Each test keeps to its own CA, so the queue's
 * other entries (of other tests) never show.
 */
export const replacementAndRetirementContract = (name: string, makeStore: () => Promise<LifecycleStore>) => {
  let sequence = 0;
  const unique = (prefix: string) => {
    sequence += 1;
    return `${prefix}-${Date.now().toString(36)}-${sequence}`;
  };
  const hex = () => {
    sequence += 1;
    return `${Date.now().toString(16)}${sequence.toString(16).padStart(8, "0")}${Math.random().toString(16).slice(2)}`
      .replace(/[^0-9a-f]/g, "")
      .padEnd(64, "0")
      .slice(0, 64);
  };
  const certificateId = () => hex() as CertificateId;
  const caId = () => hex() as CaCertificateId;
  const at = (second: number) => new Date(Date.UTC(2026, 10, 25, 12, 0, second)).toISOString();
  const bound = (id: CertificateId): BoundCertificate => ({
    certificateId: id,
    certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${id}`,
    certificateSha256: id,
    publicKeySha256: "2".repeat(64),
    notBefore: at(0),
    notAfter: at(59),
  });
  const event = (
    device: Pick<Device, "deviceId">,
    type: DeviceEvent["type"],
    second: number,
  ): DeviceEvent => ({
    deviceId: device.deviceId,
    at: at(second),
    type,
    actor: "contract",
  });

  /** An ACTIVE device of its own CA, holding a certificate. */
  const activeDevice = async (store: LifecycleStore): Promise<Device> => {
    const allowed: Device = {
      deviceId: unique("dev") as DeviceId,
      state: "ALLOWED",
      batchId: "batch-a" as BatchId,
      caCertificateId: caId(),
      attributes: {},
      pins: {},
      version: 1,
      createdAt: at(0),
      updatedAt: at(0),
    };
    await store.addDevices([allowed]);
    const claimed = await store.claim(
      allowed,
      bound(certificateId()),
      event(allowed, "PROVISIONING_STARTED", 1),
    );
    return store.activate(claimed, event(claimed, "ACTIVATED", 2));
  };

  const approvalFor = (
    device: Device,
    overrides: Partial<ReplacementApproval> = {},
  ): ReplacementApproval => ({
    deviceId: device.deviceId,
    certificateSha256: certificateId(),
    replaces: device.certificate?.certificateId as CertificateId,
    approvedBy: "operator",
    approvedAt: at(3),
    expiresAt: at(30),
    ...overrides,
  });

  const due = (store: LifecycleStore, caCertificateId: CaCertificateId | undefined, before = at(59)) =>
    store.pageRetirable({ before, caCertificateId }, { limit: 25 });

  describe(`${name}: approvals of replacement certificates`, () => {
    it("records an approval with its event for the device as read, and provisioning reads it with the device", async () => {
      const store = await makeStore();
      const device = await activeDevice(store);
      const approval = approvalFor(device);

      await store.putApproval(device, approval, event(device, "REPLACEMENT_APPROVED", 3));

      const state = await store.readProvisioningState(approval.certificateSha256, device.deviceId);
      expect(state.approval).toEqual(approval);
      expect(state.device?.version).toBe(device.version);
      expect((await store.listEvents(device.deviceId)).map((e) => e.type)).toContain("REPLACEMENT_APPROVED");
    });

    it("refuses an approval for a device that moved since it was read", async () => {
      const store = await makeStore();
      const device = await activeDevice(store);
      await store.transition(device, "SUSPENDED", event(device, "SUSPENDED", 3));

      await expect(
        store.putApproval(device, approvalFor(device), event(device, "REPLACEMENT_APPROVED", 4)),
      ).rejects.toThrow(ConcurrentUpdateError);
      expect((await store.readProvisioningState(certificateId(), device.deviceId)).approval).toBeUndefined();
    });

    it("keeps one approval per device: a new one takes the earlier one's place", async () => {
      const store = await makeStore();
      const device = await activeDevice(store);
      await store.putApproval(device, approvalFor(device), event(device, "REPLACEMENT_APPROVED", 3));
      const second = approvalFor(device, { approvedAt: at(4) });

      await store.putApproval(device, second, event(device, "REPLACEMENT_APPROVED", 4));

      expect((await store.readProvisioningState(certificateId(), device.deviceId)).approval).toEqual(second);
    });

    it("lists approvals expired before a time, soonest first, and expires each once", async () => {
      const store = await makeStore();
      const early = await activeDevice(store);
      const late = await activeDevice(store);
      const live = await activeDevice(store);
      const earlyApproval = approvalFor(early, { expiresAt: "2000-01-01T00:00:01.000Z" });
      const lateApproval = approvalFor(late, { expiresAt: "2000-01-01T00:00:02.000Z" });
      await store.putApproval(early, earlyApproval, event(early, "REPLACEMENT_APPROVED", 3));
      await store.putApproval(late, lateApproval, event(late, "REPLACEMENT_APPROVED", 3));
      await store.putApproval(live, approvalFor(live), event(live, "REPLACEMENT_APPROVED", 3));

      const expired = await store.pageExpiredApprovals("2000-01-01T00:00:03.000Z", { limit: 10 });

      expect(expired.items).toEqual([earlyApproval, lateApproval]);
      expect(await store.expireApproval(earlyApproval, event(early, "REPLACEMENT_EXPIRED", 5))).toBe(true);
      expect(await store.expireApproval(earlyApproval, event(early, "REPLACEMENT_EXPIRED", 6))).toBe(false);
      expect(
        (await store.listEvents(early.deviceId)).filter((e) => e.type === "REPLACEMENT_EXPIRED"),
      ).toHaveLength(1);
      expect((await store.pageExpiredApprovals("2000-01-01T00:00:03.000Z", { limit: 10 })).items).toEqual([
        lateApproval,
      ]);
    });

    it("does not expire an approval given anew since it was listed", async () => {
      const store = await makeStore();
      const device = await activeDevice(store);
      const old = approvalFor(device, { expiresAt: "2000-01-01T00:00:01.000Z" });
      await store.putApproval(device, old, event(device, "REPLACEMENT_APPROVED", 3));
      await store.putApproval(
        device,
        approvalFor(device, { approvedAt: at(4) }),
        event(device, "REPLACEMENT_APPROVED", 4),
      );

      expect(await store.expireApproval(old, event(device, "REPLACEMENT_EXPIRED", 5))).toBe(false);
      expect((await store.readProvisioningState(certificateId(), device.deviceId)).approval?.approvedAt).toBe(
        at(4),
      );
    });
  });

  describe(`${name}: a replacement's commit`, () => {
    it("binds the new certificate, uses up the approval, records the new one and queues the replaced one, with the event", async () => {
      const store = await makeStore();
      const device = await activeDevice(store);
      const approval = approvalFor(device);
      await store.putApproval(device, approval, event(device, "REPLACEMENT_APPROVED", 3));
      const replacement = bound(approval.certificateSha256);

      const after = await store.commitReplacement(
        device,
        replacement,
        approval,
        event(device, "CERTIFICATE_REPLACED", 10),
      );

      expect(after).toMatchObject({ state: "ACTIVE", certificate: replacement, version: device.version + 1 });
      const state = await store.readProvisioningState(replacement.certificateId, device.deviceId);
      expect(state.device).toMatchObject({ certificate: replacement, version: device.version + 1 });
      expect(state.approval).toBeUndefined();
      expect(state.record).toMatchObject({ outcome: "ASSIGNED", deviceId: device.deviceId });
      expect((await due(store, device.caCertificateId)).items).toEqual([
        {
          certificateId: approval.replaces,
          deviceId: device.deviceId,
          caCertificateId: device.caCertificateId,
          since: at(10),
          why: "REPLACED",
        },
      ]);
      expect((await store.listEvents(device.deviceId)).map((e) => e.type).at(-1)).toBe(
        "CERTIFICATE_REPLACED",
      );
    });

    it("commits once: the same approval again, or from the old version, is a concurrent update", async () => {
      const store = await makeStore();
      const device = await activeDevice(store);
      const approval = approvalFor(device);
      await store.putApproval(device, approval, event(device, "REPLACEMENT_APPROVED", 3));
      const replacement = bound(approval.certificateSha256);
      await store.commitReplacement(device, replacement, approval, event(device, "CERTIFICATE_REPLACED", 10));

      await expect(
        store.commitReplacement(device, replacement, approval, event(device, "CERTIFICATE_REPLACED", 11)),
      ).rejects.toThrow(ConcurrentUpdateError);
      expect(
        (await store.listEvents(device.deviceId)).filter((e) => e.type === "CERTIFICATE_REPLACED"),
      ).toHaveLength(1);
    });
  });

  describe(`${name}: the retirement queue`, () => {
    it("queues a revoked or decommissioned device's certificate when it moves, and a suspended one's not", async () => {
      const store = await makeStore();
      const suspended = await activeDevice(store);
      await store.transition(suspended, "SUSPENDED", event(suspended, "SUSPENDED", 5));
      const revoked = await activeDevice(store);
      await store.transition(revoked, "REVOKED", event(revoked, "REVOKED", 6));

      expect((await due(store, suspended.caCertificateId)).items).toEqual([]);
      expect((await due(store, revoked.caCertificateId)).items).toEqual([
        {
          certificateId: revoked.certificate?.certificateId,
          deviceId: revoked.deviceId,
          caCertificateId: revoked.caCertificateId,
          since: at(6),
          why: "REVOKED",
        },
      ]);
    });

    it("queues a refused certificate when its refusal is recorded", async () => {
      const store = await makeStore();
      const ca = caId();
      const refused = certificateId();
      await store.recordRefusal(
        {
          certificateId: refused,
          outcome: "REJECTED",
          refusal: refuse("IDENTITY_ALREADY_CLAIMED"),
          deviceId: "clone-of-x" as DeviceId,
          caCertificateId: ca,
          at: at(7),
        },
        undefined,
      );

      expect((await due(store, ca)).items).toEqual([
        { certificateId: refused, deviceId: "clone-of-x", caCertificateId: ca, since: at(7), why: "REFUSED" },
      ]);
    });

    it("lists only what became retirable before the cutoff, oldest first, in pages", async () => {
      const store = await makeStore();
      const ca = caId();
      const ids = [certificateId(), certificateId(), certificateId()];
      for (const [i, id] of ids.entries())
        await store.scheduleRetirement({
          certificateId: id,
          caCertificateId: ca,
          since: at(20 - i),
          why: "REFUSED",
        });

      expect((await due(store, ca, at(19))).items.map((c) => c.certificateId)).toEqual([ids[2]]);
      const first = await store.pageRetirable({ before: at(59), caCertificateId: ca }, { limit: 2 });
      expect(first.items.map((c) => c.certificateId)).toEqual([ids[2], ids[1]]);
      const rest = await store.pageRetirable(
        { before: at(59), caCertificateId: ca },
        { limit: 2, cursor: first.cursor ?? "" },
      );
      expect(rest.items.map((c) => c.certificateId)).toEqual([ids[0]]);
    });

    it("keeps a certificate's first time when it is queued again (revoked, then decommissioned)", async () => {
      const store = await makeStore();
      let device = await activeDevice(store);
      device = await store.transition(device, "REVOKED", event(device, "REVOKED", 6));
      await store.transition(device, "DECOMMISSIONED", event(device, "DECOMMISSIONED", 8));

      expect((await due(store, device.caCertificateId)).items).toMatchObject([
        { since: at(6), why: "REVOKED" },
      ]);
    });

    it("takes a retired certificate off the queue with its event, once", async () => {
      const store = await makeStore();
      const device = await activeDevice(store);
      await store.transition(device, "REVOKED", event(device, "REVOKED", 6));
      const [queued] = (await due(store, device.caCertificateId)).items;
      if (!queued) throw new Error("not queued");

      expect(await store.recordRetired(queued, at(40), event(device, "CERTIFICATE_RETIRED", 40))).toBe(true);
      expect(await store.recordRetired(queued, at(41), event(device, "CERTIFICATE_RETIRED", 41))).toBe(false);

      expect((await due(store, device.caCertificateId)).items).toEqual([]);
      expect(
        (await store.listEvents(device.deviceId)).filter((e) => e.type === "CERTIFICATE_RETIRED"),
      ).toHaveLength(1);
    });

    it("keeps where the scheduled run stopped", async () => {
      const store = await makeStore();
      await store.saveRetirementCheckpoint("somewhere");
      expect(await store.readRetirementCheckpoint()).toBe("somewhere");
      await store.saveRetirementCheckpoint(undefined);
      expect(await store.readRetirementCheckpoint()).toBeUndefined();
    });
  });
};
