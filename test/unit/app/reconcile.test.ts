import { beforeEach, describe, expect, it } from "vitest";
import type { DisconnectOutcome } from "#app/ports.js";
import {
  DRIFT_KINDS,
  PROVISIONING_GRACE_MS,
  type ReconcileDeps,
  reconcile,
  reconcileDevice,
} from "#app/reconcile.js";
import type { Device } from "#domain/device.js";
import { DependencyUnavailableError, ThrottledError, ValidationError } from "#domain/errors.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { FakeInventory } from "#test/support/fake-inventory.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const GROUP = "fleetgate-devices";
const NOW = new Date("2026-11-25T10:00:00Z");
const OPERATOR = "arn:aws:iam::123456789012:user/ops-alice";

let registry: FakeRegistry;
let inventory: FakeInventory;
let store: InMemoryLifecycleStore;
let disconnected: string[];
let deps: ReconcileDeps;

const cert = (name: string) => name.padEnd(64, "0") as CertificateId;

/** A device record in `state`, holding certificate `holds` (IoT Core status `status`), its Thing in the group. */
const device = (
  deviceId: string,
  state: DeviceState,
  holds?: { id: CertificateId; status: CertificateStatus; attached?: boolean },
  updatedAt = NOW.toISOString(),
): Device => {
  const record: Device = {
    deviceId: deviceId as DeviceId,
    state,
    batchId: "lot-1" as BatchId,
    caCertificateId: "c".repeat(64) as CaCertificateId,
    attributes: {},
    pins: {},
    version: 3,
    createdAt: NOW.toISOString(),
    updatedAt,
    ...(holds
      ? {
          certificate: {
            certificateId: holds.id,
            certificateArn: FakeRegistry.arn(holds.id),
            certificateSha256: holds.id,
            publicKeySha256: "k".repeat(64),
            notBefore: "2026-01-01T00:00:00.000Z",
            notAfter: "2027-01-01T00:00:00.000Z",
          },
        }
      : {}),
  };
  store.devices.set(deviceId, record);
  if (state !== "DECOMMISSIONED")
    inventory.placeThing(
      deviceId,
      GROUP,
      ...(holds && holds.attached !== false ? [[holds.id, holds.status] as [string, CertificateStatus]] : []),
    );
  if (holds)
    registry.certificates.set(holds.id, {
      pem: "",
      status: holds.status,
      caCertificateId: record.caCertificateId as CaCertificateId,
    });
  return record;
};

const pass = async (repair = false) => {
  const drifts = [];
  const unchecked = [];
  let cursor: string | undefined;
  const examined: number[] = [];
  do {
    const report = await reconcile(deps, {
      limit: 3,
      ...(cursor ? { cursor } : {}),
      repair,
      actor: OPERATOR,
    });
    drifts.push(...report.drifts);
    unchecked.push(...report.unchecked);
    examined.push(report.examined);
    cursor = report.cursor;
  } while (cursor && examined.length < 100);
  return { drifts, unchecked, examined };
};

beforeEach(() => {
  registry = new FakeRegistry();
  inventory = new FakeInventory(registry);
  store = new InMemoryLifecycleStore();
  disconnected = [];
  deps = {
    inventory,
    store,
    clock: { now: () => NOW },
    thingGroupName: GROUP,
    repairs: {
      registry,
      events: store,
      connections: {
        disconnect: async (clientId): Promise<DisconnectOutcome> => {
          disconnected.push(clientId);
          return "dropped";
        },
      },
    },
  };
});

describe("reconcile: what agrees is not a drift", () => {
  it("finds nothing when every record and every Thing agree with IoT Core", async () => {
    device("ok-active", "ACTIVE", { id: cert("a1"), status: "ACTIVE" });
    device("ok-suspended", "SUSPENDED", { id: cert("s1"), status: "INACTIVE" });
    device("ok-revoked", "REVOKED", { id: cert("r1"), status: "REVOKED" });
    device("ok-gone", "DECOMMISSIONED", { id: cert("d1"), status: "REVOKED" });
    device("ok-allowed", "ALLOWED");

    const { drifts, unchecked } = await pass();

    expect(drifts).toEqual([]);
    expect(unchecked).toEqual([]);
  });

  it("does not take a device being provisioned right now for a stalled one", async () => {
    device("fresh", "PROVISIONING", { id: cert("p1"), status: "ACTIVE" });

    expect((await pass()).drifts).toEqual([]);
  });
});

describe("reconcile: each drift, with the action it proposes", () => {
  it("an ACTIVE certificate of a REVOKED device is a security drift that a repair fixes", async () => {
    device("stolen", "REVOKED", { id: cert("r2"), status: "ACTIVE" });

    const { drifts } = await pass();

    expect(drifts).toEqual([
      expect.objectContaining({
        kind: "REVOKED_DEVICE_CERTIFICATE_ACTIVE",
        security: true,
        repairable: true,
        deviceId: "stolen",
        state: "REVOKED",
        certificateId: cert("r2"),
        certificateStatus: "ACTIVE",
        action: expect.stringMatching(/fleetgate reconcile --repair/),
      }),
    ]);
    expect(registry.certificates.get(cert("r2"))?.status).toBe("ACTIVE");
  });

  it("another ACTIVE certificate attached to a revoked device's Thing is one too", async () => {
    device("stolen", "REVOKED", { id: cert("r3"), status: "REVOKED" });
    inventory.placeThing("stolen", GROUP, [cert("x3"), "ACTIVE"]);

    expect((await pass()).drifts).toEqual([
      expect.objectContaining({
        kind: "REVOKED_DEVICE_CERTIFICATE_ACTIVE",
        certificateId: cert("x3"),
        detail: expect.stringMatching(/attached to its Thing/),
      }),
    ]);
  });

  it("a decommissioned device's certificate still ACTIVE is found without its (deleted) Thing", async () => {
    device("retired", "DECOMMISSIONED", { id: cert("d2"), status: "ACTIVE" });

    expect((await pass()).drifts).toEqual([
      expect.objectContaining({ kind: "REVOKED_DEVICE_CERTIFICATE_ACTIVE", state: "DECOMMISSIONED" }),
    ]);
  });

  it("an ACTIVE device whose certificate IoT Core has revoked proposes recording the revocation", async () => {
    device("half-revoked", "ACTIVE", { id: cert("a2"), status: "REVOKED" });

    expect((await pass()).drifts).toEqual([
      expect.objectContaining({
        kind: "RECORD_ACTIVE_CERTIFICATE_NOT_ACTIVE",
        security: false,
        repairable: false,
        certificateStatus: "REVOKED",
        action: expect.stringMatching(/^Record the revocation: fleetgate device revoke half-revoked/),
      }),
    ]);
  });

  it("an ACTIVE device whose certificate was deactivated, or deleted, proposes suspending or decommissioning", async () => {
    device("paused", "ACTIVE", { id: cert("a3"), status: "INACTIVE" });
    device("erased", "ACTIVE", { id: cert("a4"), status: "ACTIVE" });
    registry.certificates.delete(cert("a4"));

    const actions = Object.fromEntries(
      (await pass()).drifts.map((drift) => [drift.deviceId, [drift.certificateStatus, drift.action]]),
    );

    expect(actions).toEqual({
      paused: ["INACTIVE", expect.stringMatching(/fleetgate device suspend paused/)],
      erased: ["DELETED", expect.stringMatching(/fleetgate device decommission erased/)],
    });
  });

  it("an ACTIVE certificate whose Thing is gone, or not attached to it, is a certificate without a Thing", async () => {
    device("no-thing", "ACTIVE", { id: cert("a5"), status: "ACTIVE" });
    registry.things.delete("no-thing");
    registry.groups.delete("no-thing");
    registry.thingAttachments.clear();
    device("detached", "ACTIVE", { id: cert("a6"), status: "ACTIVE", attached: false });

    const details = (await pass()).drifts.map((drift) => [drift.kind, drift.detail]);

    expect(details).toEqual([
      ["CERTIFICATE_WITHOUT_THING", expect.stringMatching(/not attached to Thing detached/)],
      ["CERTIFICATE_WITHOUT_THING", expect.stringMatching(/Thing no-thing does not exist/)],
    ]);
  });

  it("a suspended device whose certificate is ACTIVE again is a security drift, not repaired (a reactivation may be finishing)", async () => {
    device("woken", "SUSPENDED", { id: cert("s2"), status: "ACTIVE" });

    const { drifts } = await pass(true);

    expect(drifts).toEqual([
      expect.objectContaining({
        kind: "SUSPENDED_DEVICE_CERTIFICATE_ACTIVE",
        security: true,
        repairable: false,
        action: expect.stringMatching(/fleetgate device reactivate woken/),
      }),
    ]);
    expect(drifts[0]?.repair).toBeUndefined();
    expect(registry.certificates.get(cert("s2"))?.status).toBe("ACTIVE");
  });

  it("a device PROVISIONING for more than 15 minutes with its certificate ACTIVE proposes redriving JITR", async () => {
    const long = new Date(NOW.getTime() - PROVISIONING_GRACE_MS - 1000).toISOString();
    device("stalled", "PROVISIONING", { id: cert("p2"), status: "ACTIVE" }, long);

    expect((await pass()).drifts).toEqual([
      expect.objectContaining({
        kind: "PROVISIONING_NOT_FINISHED",
        action: expect.stringMatching(/fleetgate dlq redrive jitr/),
      }),
    ]);
  });

  it("a fleet-reserved device with its ACTIVE certificate is no drift until its reservation ends, then one that proposes nothing but a revocation if it was lost", async () => {
    const long = new Date(NOW.getTime() - PROVISIONING_GRACE_MS - 1000).toISOString();
    const reserve = (deviceId: string, id: CertificateId, until: Date) => {
      const record = device(deviceId, "PROVISIONING", { id, status: "ACTIVE" }, long);
      const certificate = record.certificate && { ...record.certificate, reservedUntil: until.toISOString() };
      store.devices.set(deviceId, { ...record, ...(certificate ? { certificate } : {}) });
    };
    reserve("reserved", cert("f1"), new Date(NOW.getTime() + 60_000));
    reserve("unconfirmed", cert("f2"), new Date(NOW.getTime() - 60_000));

    const { drifts } = await pass(true);

    expect(drifts).toEqual([
      expect.objectContaining({
        kind: "RESERVATION_NOT_CONFIRMED",
        deviceId: "unconfirmed",
        security: false,
        repairable: false,
        action: expect.stringMatching(/fleetgate device revoke unconfirmed/),
      }),
    ]);
    expect(registry.certificates.get(cert("f2"))?.status).toBe("ACTIVE");
  });

  it("a second ACTIVE certificate on an active device's Thing is an unrecorded certificate, not revoked by a repair", async () => {
    device("twice", "ACTIVE", { id: cert("a7"), status: "ACTIVE" });
    inventory.placeThing("twice", GROUP, [cert("a7"), "ACTIVE"], [cert("x7"), "ACTIVE"]);

    const { drifts } = await pass(true);

    expect(drifts).toEqual([
      expect.objectContaining({
        kind: "UNRECORDED_CERTIFICATE_ACTIVE",
        security: true,
        repairable: false,
        certificateId: cert("x7"),
        action: expect.stringMatching(new RegExp(`update-certificate --certificate-id ${cert("x7")}`)),
      }),
    ]);
    expect(registry.certificates.get(cert("x7"))?.status).toBe("ACTIVE");
  });

  it("a Thing in the devices' group without a record is reported, with its ACTIVE certificates as unrecorded", async () => {
    inventory.placeThing("stranger", GROUP, [cert("u1"), "ACTIVE"], [cert("u2"), "REVOKED"]);
    inventory.placeThing("other-group", "someone-elses-group", [cert("u3"), "ACTIVE"]);

    const { drifts } = await pass();

    expect(drifts.map((drift) => [drift.kind, drift.deviceId, drift.certificateId])).toEqual([
      ["THING_WITHOUT_RECORD", "stranger", undefined],
      ["UNRECORDED_CERTIFICATE_ACTIVE", "stranger", cert("u1")],
    ]);
    expect(drifts[0]?.detail).toMatch(/2 certificates \(1 ACTIVE\)/);
  });

  it("names every kind in the order of the steps: security first", () => {
    expect(DRIFT_KINDS.slice(0, 3)).toEqual([
      "REVOKED_DEVICE_CERTIFICATE_ACTIVE",
      "UNRECORDED_CERTIFICATE_ACTIVE",
      "SUSPENDED_DEVICE_CERTIFICATE_ACTIVE",
    ]);
  });
});

describe("reconcile --repair", () => {
  it("revokes the ACTIVE certificate of a revoked device, drops its connection, and records it in the history", async () => {
    device("stolen", "REVOKED", { id: cert("r4"), status: "ACTIVE" });

    const { drifts } = await pass(true);

    expect(drifts[0]?.repair).toEqual({
      outcome: "REVOKED",
      detail: `certificate ${cert("r4")} revoked, live connection dropped`,
    });
    expect(registry.certificates.get(cert("r4"))?.status).toBe("REVOKED");
    expect(disconnected).toEqual(["stolen"]);
    expect(store.events).toEqual([
      expect.objectContaining({
        deviceId: "stolen",
        type: "CERTIFICATE_REVOKED",
        actor: OPERATOR,
        certificateId: cert("r4"),
        reason: "reconcile: certificate ACTIVE while the device is REVOKED",
      }),
    ]);
  });

  it("changes nothing without --repair", async () => {
    device("stolen", "REVOKED", { id: cert("r5"), status: "ACTIVE" });

    await pass(false);

    expect(registry.calls).not.toContain("updateCertificateStatus");
    expect(store.events).toEqual([]);
  });

  it("never revokes because a read failed: a device whose certificate could not be read is unchecked", async () => {
    device("stolen", "REVOKED", { id: cert("r6"), status: "ACTIVE" });
    inventory.failNext("certificateStatus", new DependencyUnavailableError("DescribeCertificate: timeout"));

    const { drifts, unchecked } = await pass(true);

    expect(drifts).toEqual([]);
    expect(unchecked).toEqual([{ deviceId: "stolen", why: "DescribeCertificate: timeout" }]);
    expect(registry.certificates.get(cert("r6"))?.status).toBe("ACTIVE");
  });

  it("ends the page when IoT Core's quota refuses a read, so the walk reads it again rather than passing over it", async () => {
    device("busy", "ACTIVE", { id: cert("r8"), status: "ACTIVE" });
    inventory.failNext(
      "certificateStatus",
      new ThrottledError("DescribeCertificate: no slot of the IoT budget"),
    );

    await expect(reconcile(deps, { limit: 3, actor: OPERATOR })).rejects.toThrow(ThrottledError);
    const { drifts, unchecked } = await pass();
    expect(drifts).toEqual([]);
    expect(unchecked).toEqual([]);
  });

  it("reads the certificate again before revoking: one revoked meanwhile is skipped", async () => {
    device("stolen", "REVOKED", { id: cert("r7"), status: "ACTIVE" });
    const read = inventory.certificateStatus.bind(inventory);
    let reads = 0;
    inventory.certificateStatus = async (id) => {
      reads += 1;
      // Someone revokes it between the walk's read and the repair's.
      if (reads === 2) registry.setStatus(id, "REVOKED");
      return read(id);
    };

    const { drifts } = await pass(true);

    expect(drifts[0]?.repair).toEqual({
      outcome: "SKIPPED",
      detail: `certificate ${cert("r7")} is REVOKED now`,
    });
    expect(store.events).toEqual([]);
  });

  it("a repair that fails is reported as failed and records nothing", async () => {
    device("stolen", "REVOKED", { id: cert("r8"), status: "ACTIVE" });
    registry.failNext("updateCertificateStatus", new DependencyUnavailableError("UpdateCertificate: outage"));

    const { drifts } = await pass(true);

    expect(drifts[0]?.repair).toEqual({ outcome: "FAILED", detail: "UpdateCertificate: outage" });
    expect(store.events).toEqual([]);
  });

  it("a caller without repairs (the schedule) only reports", async () => {
    device("stolen", "REVOKED", { id: cert("r9"), status: "ACTIVE" });
    const { repairs: _none, ...reportOnly } = deps;
    deps = reportOnly;

    const { drifts } = await pass(true);

    expect(drifts[0]?.repair).toEqual({ outcome: "SKIPPED", detail: "this caller only reports" });
    expect(registry.certificates.get(cert("r9"))?.status).toBe("ACTIVE");
  });
});

describe("reconcile is bounded", () => {
  it("examines at most `limit` records and Things a call and goes on from its cursor, covering each once", async () => {
    for (let i = 0; i < 7; i += 1)
      device(`revoked-${i}`, "REVOKED", { id: cert(`r${i}a`), status: i % 2 ? "ACTIVE" : "REVOKED" });
    for (let i = 0; i < 5; i += 1) device(`active-${i}`, "ACTIVE", { id: cert(`a${i}b`), status: "ACTIVE" });

    const { drifts, examined } = await pass();

    expect(drifts.map((drift) => drift.deviceId)).toEqual(["revoked-1", "revoked-3", "revoked-5"]);
    // 7 revoked + 12 Things (looked up, skipped: their records are checked by state) + 5 active.
    expect(examined.reduce((sum, count) => sum + count, 0)).toBe(7 + 12 + 5);
    expect(Math.max(...examined)).toBe(3);
  });

  it("stops at its deadline and answers a cursor to go on from", async () => {
    for (let i = 0; i < 30; i += 1) device(`revoked-${i}`, "REVOKED");
    const report = await reconcile(deps, {
      limit: 100,
      actor: OPERATOR,
      deadline: NOW.getTime(),
    });

    expect(report.examined).toBe(25);
    expect(report.cursor).toBeDefined();
  });

  it("refuses a cursor that is not its own", async () => {
    await expect(reconcile(deps, { limit: 5, cursor: "bm9wZQ", actor: OPERATOR })).rejects.toThrow(
      ValidationError,
    );
  });
});

describe("reconcileDevice", () => {
  it("checks one device, and repairs it when asked", async () => {
    device("stolen", "REVOKED", { id: cert("rr"), status: "ACTIVE" });
    device("fine", "ACTIVE", { id: cert("ff"), status: "ACTIVE" });

    const report = await reconcileDevice(deps, "stolen" as DeviceId, { repair: true, actor: OPERATOR });

    expect(report).toMatchObject({
      examined: 1,
      drifts: [{ kind: "REVOKED_DEVICE_CERTIFICATE_ACTIVE", repair: { outcome: "REVOKED" } }],
    });
    expect(inventory.calls).not.toContain("pageThingsInGroup");
  });

  it("checks a Thing of that name when no record names it, and finds nothing when neither exists", async () => {
    inventory.placeThing("stranger", GROUP);

    expect((await reconcileDevice(deps, "stranger" as DeviceId, { actor: OPERATOR })).drifts).toEqual([
      expect.objectContaining({
        kind: "THING_WITHOUT_RECORD",
        detail: expect.stringMatching(/no certificate/),
      }),
    ]);
    expect((await reconcileDevice(deps, "nobody" as DeviceId, { actor: OPERATOR })).drifts).toEqual([]);
  });
});
