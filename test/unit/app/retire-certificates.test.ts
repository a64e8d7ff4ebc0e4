import { beforeEach, describe, expect, it } from "vitest";
import { type RetirementDeps, retireCertificates } from "#app/retire-certificates.js";
import type { Device } from "#domain/device.js";
import { ConfigurationError, ThrottledError } from "#domain/errors.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import type { RetirableCertificate, RetirementReason } from "#domain/retirement.js";
import { FakeInventory } from "#test/support/fake-inventory.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const DAY = 86_400_000;
const CA = "a".repeat(64) as CaCertificateId;
const OTHER_CA = "b".repeat(64) as CaCertificateId;
let now: Date;
let store: InMemoryLifecycleStore;
let registry: FakeRegistry;
let pauses: number[];
let deps: RetirementDeps;
let sequence = 0;

beforeEach(() => {
  now = new Date("2026-11-25T12:00:00Z");
  store = new InMemoryLifecycleStore();
  registry = new FakeRegistry();
  pauses = [];
  deps = {
    store,
    registry,
    inventory: new FakeInventory(registry),
    clock: { now: () => now },
    retentionMs: 30 * DAY,
    pause: async (ms) => {
      pauses.push(ms);
    },
  };
});

const daysAgo = (days: number) => new Date(now.getTime() - days * DAY).toISOString();

/** A certificate IoT Core has with `status`, queued for retirement since `since`. */
const queued = async (
  status: CertificateStatus,
  since: string,
  options: { why?: RetirementReason; deviceId?: string; caCertificateId?: CaCertificateId } = {},
): Promise<RetirableCertificate> => {
  sequence += 1;
  const certificateId = sequence.toString(16).padStart(64, "0") as CertificateId;
  registry.certificates.set(certificateId, { pem: "pem", status, caCertificateId: CA });
  const certificate: RetirableCertificate = {
    certificateId,
    deviceId: (options.deviceId ?? `device-${sequence}`) as DeviceId,
    caCertificateId: options.caCertificateId ?? CA,
    since,
    why: options.why ?? "REFUSED",
  };
  await store.scheduleRetirement(certificate);
  return certificate;
};

const device = (deviceId: string, state: Device["state"], certificateId?: CertificateId): Device => {
  const entry: Device = {
    deviceId: deviceId as DeviceId,
    state,
    batchId: "batch-1" as BatchId,
    caCertificateId: CA,
    attributes: {},
    pins: {},
    ...(certificateId
      ? {
          certificate: {
            certificateId,
            certificateArn: FakeRegistry.arn(certificateId),
            certificateSha256: certificateId,
            publicKeySha256: "2".repeat(64),
            notBefore: daysAgo(300),
            notAfter: daysAgo(-300),
          },
        }
      : {}),
    version: 4,
    createdAt: daysAgo(300),
    updatedAt: daysAgo(40),
  };
  store.devices.set(deviceId, entry);
  return entry;
};

const attach = (thing: string, certificateId: string) =>
  registry.thingAttachments.add(`${thing}|${FakeRegistry.arn(certificateId)}`);

const run = (request: Partial<Parameters<typeof retireCertificates>[1]> = {}) =>
  retireCertificates(deps, { limit: 100, actor: "retirement", ...request });

describe("certificates whose retention has passed", () => {
  it("are deleted from IoT Core, taken off the queue, and the device's history says so", async () => {
    const refused = await queued("REVOKED", daysAgo(31), { deviceId: "sensor-1" });

    const report = await run();

    expect(report.items).toEqual([
      {
        certificateId: refused.certificateId,
        deviceId: "sensor-1",
        why: "REFUSED",
        since: refused.since,
        outcome: "RETIRED",
        status: "REVOKED",
      },
    ]);
    expect(registry.certificates.has(refused.certificateId)).toBe(false);
    expect(store.retirements.get(refused.certificateId)).toMatchObject({
      queued: false,
      retiredAt: now.toISOString(),
    });
    expect(store.events).toEqual([
      {
        deviceId: "sensor-1",
        at: now.toISOString(),
        type: "CERTIFICATE_RETIRED",
        actor: "retirement",
        certificateId: refused.certificateId,
        reason: `refused ${refused.since}; deleted from IoT Core`,
      },
    ]);
    expect(registry.calls).toEqual(["describeCertificate", "deleteCertificate"]);
  });

  it("still within their retention are not looked at", async () => {
    const young = await queued("REVOKED", daysAgo(29));

    const report = await run();

    expect(report).toMatchObject({ examined: 0, items: [] });
    expect(registry.certificates.has(young.certificateId)).toBe(true);
    expect(registry.calls).toEqual([]);
  });

  it("held by the Thing of the revoked device they belonged to are detached first, then deleted", async () => {
    const revoked = await queued("REVOKED", daysAgo(40), { why: "REVOKED", deviceId: "sensor-2" });
    device("sensor-2", "REVOKED", revoked.certificateId);
    attach("sensor-2", revoked.certificateId);

    const report = await run();

    expect(report.items).toMatchObject([{ outcome: "RETIRED", detached: ["sensor-2"] }]);
    expect(registry.thingAttachments.size).toBe(0);
    expect(registry.certificates.has(revoked.certificateId)).toBe(false);
    expect(pauses).toEqual([3_000]);
    expect(store.events.at(-1)?.reason).toBe(
      `revoked ${revoked.since}; deleted from IoT Core (detached from sensor-2)`,
    );
    // Five IoT calls: the look, the delete IoT Core refuses, the Things, the detach, the delete.
    expect(registry.calls).toEqual([
      "describeCertificate",
      "deleteCertificate",
      "detachThingPrincipal",
      "deleteCertificate",
    ]);
    expect((deps.inventory as FakeInventory).calls).toEqual(["certificateThings"]);
  });

  it("replaced, and still attached to the device's Thing that now holds the new one, are detached and deleted", async () => {
    const old = await queued("REVOKED", daysAgo(40), { why: "REPLACED", deviceId: "sensor-3" });
    device("sensor-3", "ACTIVE", "f".repeat(64) as CertificateId);
    attach("sensor-3", old.certificateId);

    expect((await run()).items).toMatchObject([{ outcome: "RETIRED", detached: ["sensor-3"] }]);
  });

  it("already gone from IoT Core are recorded as retired", async () => {
    const gone = await queued("REVOKED", daysAgo(40));
    registry.certificates.delete(gone.certificateId);

    expect((await run()).items).toMatchObject([{ outcome: "RETIRED", status: "DELETED" }]);
    expect(store.events.at(-1)?.reason).toBe(`refused ${gone.since}; IoT Core no longer had it`);
  });
});

describe("certificates that are never touched", () => {
  it("ACTIVE in IoT Core, whatever fleetgate's record says: left and reported, every run", async () => {
    const drifted = await queued("ACTIVE", daysAgo(40), { why: "REVOKED" });

    const report = await run();

    expect(report.items).toMatchObject([
      {
        certificateId: drifted.certificateId,
        outcome: "LEFT",
        status: "ACTIVE",
        detail: "ACTIVE in IoT Core: it can connect",
      },
    ]);
    expect(registry.certificates.get(drifted.certificateId)?.status).toBe("ACTIVE");
    expect(registry.calls).toEqual(["describeCertificate"]);
    expect(store.retirements.get(drifted.certificateId)?.queued).toBe(true);
    expect((await run()).items).toMatchObject([{ outcome: "LEFT" }]);
  });

  it("turned ACTIVE between the look and the delete: IoT Core refuses the delete, and it is left", async () => {
    const racing = await queued("INACTIVE", daysAgo(40));
    const describe = registry.describeCertificate.bind(registry);
    registry.describeCertificate = async (id) => {
      const description = await describe(id);
      registry.setStatus(id, "ACTIVE");
      return description;
    };

    expect((await run()).items).toMatchObject([{ outcome: "LEFT", status: "ACTIVE" }]);
    expect(registry.certificates.has(racing.certificateId)).toBe(true);
  });

  it("the certificate a live device holds (its record is queued by mistake): left, still attached", async () => {
    const live = await queued("INACTIVE", daysAgo(40), { deviceId: "sensor-4" });
    device("sensor-4", "SUSPENDED", live.certificateId);
    attach("sensor-4", live.certificateId);

    expect((await run()).items).toMatchObject([
      { outcome: "LEFT", detail: "attached to Thing sensor-4, whose device is SUSPENDED with it" },
    ]);
    expect(registry.thingAttachments.size).toBe(1);
  });

  it("attached to a Thing fleetgate has no record of: left, still attached", async () => {
    const foreign = await queued("REVOKED", daysAgo(40));
    registry.things.set("someone-elses", {});
    attach("someone-elses", foreign.certificateId);

    expect((await run()).items).toMatchObject([{ outcome: "LEFT" }]);
    expect(registry.certificates.has(foreign.certificateId)).toBe(true);
  });
  it("that IoT Core refuses to delete though no Thing holds it (a detach still propagating): left, said why", async () => {
    const withPolicy = await queued("REVOKED", daysAgo(40));
    registry.deleteCertificate = async () => "attached";

    expect((await run()).items).toMatchObject([
      {
        certificateId: withPolicy.certificateId,
        outcome: "LEFT",
        detail: "IoT Core refuses to delete it, and no Thing holds it",
      },
    ]);
    expect(pauses).toEqual([]);
  });
});

describe("a dry run", () => {
  it("says what would be retired and detached, and changes nothing", async () => {
    const revoked = await queued("REVOKED", daysAgo(40), { deviceId: "sensor-5" });
    device("sensor-5", "REVOKED", revoked.certificateId);
    attach("sensor-5", revoked.certificateId);
    const drifted = await queued("ACTIVE", daysAgo(35));

    const report = await run({ dryRun: true });

    expect(report).toMatchObject({ dryRun: true, examined: 2 });
    expect(report.items).toMatchObject([
      { certificateId: revoked.certificateId, outcome: "WOULD_RETIRE", detached: ["sensor-5"] },
      { certificateId: drifted.certificateId, outcome: "LEFT" },
    ]);
    expect(registry.certificates.size).toBe(2);
    expect(registry.thingAttachments.size).toBe(1);
    expect(store.events).toEqual([]);
    expect(registry.calls).not.toContain("deleteCertificate");
  });
});

describe("how a run is bounded and what stops it", () => {
  it("takes the oldest first, at most the limit, and goes on from its cursor", async () => {
    const older = await queued("REVOKED", daysAgo(50));
    const newer = await queued("REVOKED", daysAgo(40));

    const first = await run({ limit: 1 });
    expect(first.items.map((item) => item.certificateId)).toEqual([older.certificateId]);
    const second = await run({ limit: 1, ...(first.cursor ? { cursor: first.cursor } : {}) });

    expect(second.items.map((item) => item.certificateId)).toEqual([newer.certificateId]);
  });

  it("with another retention for this call (an operator's 0), retires what is not due by the configured one", async () => {
    const fresh = await queued("REVOKED", now.toISOString());
    now = new Date(now.getTime() + 1);

    expect((await run({ retentionMs: 0 })).items).toMatchObject([
      { certificateId: fresh.certificateId, outcome: "RETIRED" },
    ]);
  });

  it("of one CA only, when asked", async () => {
    await queued("REVOKED", daysAgo(40));
    const other = await queued("REVOKED", daysAgo(40), { caCertificateId: OTHER_CA });

    const report = await run({ caCertificateId: OTHER_CA });

    expect(report.items.map((item) => item.certificateId)).toEqual([other.certificateId]);
  });

  it("a transient failure leaves that certificate queued and unchecked; the others are retired", async () => {
    const failing = await queued("REVOKED", daysAgo(41));
    const fine = await queued("REVOKED", daysAgo(40));
    registry.failNext("deleteCertificate", new ThrottledError("Rate exceeded"));

    const report = await run();

    expect(report.items).toMatchObject([
      { certificateId: failing.certificateId, outcome: "UNCHECKED", detail: "Rate exceeded" },
      { certificateId: fine.certificateId, outcome: "RETIRED" },
    ]);
    expect(store.retirements.get(failing.certificateId)?.queued).toBe(true);
    expect(registry.certificates.has(failing.certificateId)).toBe(true);
  });

  it("a failure of our own (a missing grant) stops the run: a person has to fix it", async () => {
    await queued("REVOKED", daysAgo(40));
    registry.failNext("deleteCertificate", new ConfigurationError("AccessDeniedException"));

    await expect(run()).rejects.toThrow(ConfigurationError);
  });
});
