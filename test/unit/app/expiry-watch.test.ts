import { beforeEach, describe, expect, it } from "vitest";
import { type ExpiryDeps, watchExpiry } from "#app/expiry-watch.js";
import type { Device } from "#domain/device.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import { FakeInventory } from "#test/support/fake-inventory.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const NOW = new Date("2026-11-25T10:00:00Z");
const DAY = 86_400_000;
const inDays = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

let store: InMemoryLifecycleStore;
let registry: FakeRegistry;
let inventory: FakeInventory;
let deps: ExpiryDeps;

const device = (deviceId: string, state: DeviceState, notAfterInDays?: number) => {
  const record: Device = {
    deviceId: deviceId as DeviceId,
    state,
    batchId: "lot-1" as BatchId,
    caCertificateId: "c".repeat(64) as CaCertificateId,
    attributes: {},
    pins: {},
    version: 1,
    createdAt: NOW.toISOString(),
    updatedAt: NOW.toISOString(),
    ...(notAfterInDays === undefined
      ? {}
      : {
          certificate: {
            certificateId: deviceId.padEnd(64, "0") as CertificateId,
            certificateArn: "arn",
            certificateSha256: "s",
            publicKeySha256: "k",
            notBefore: "2026-01-01T00:00:00.000Z",
            notAfter: inDays(notAfterInDays),
          },
        }),
  };
  store.devices.set(deviceId, record);
};

const ca = (id: string, status: "ACTIVE" | "INACTIVE", expiresInDays: number) => {
  registry.cas.set(id, { caCertificateId: id as CaCertificateId, status, pem: "" });
  inventory.caExpiry.set(id, inDays(expiresInDays));
};

beforeEach(() => {
  store = new InMemoryLifecycleStore();
  registry = new FakeRegistry();
  inventory = new FakeInventory(registry);
  deps = { store, inventory, clock: { now: () => NOW } };
});

describe("the expiry watch", () => {
  it("reports the certificates of devices that may connect expiring within 30 days, soonest first, expired ones too", async () => {
    device("soon", "ACTIVE", 10);
    device("sooner", "SUSPENDED", 2);
    device("expired", "ACTIVE", -3);
    device("later", "ACTIVE", 31);
    device("revoked", "REVOKED", 1);
    device("waiting", "ALLOWED");

    const report = await watchExpiry(deps, { limit: 1000 });

    expect(report.deviceDays).toBe(30);
    expect(report.devices.map((d) => [d.deviceId, d.state, d.daysLeft])).toEqual([
      ["expired", "ACTIVE", -3],
      ["sooner", "SUSPENDED", 2],
      ["soon", "ACTIVE", 10],
    ]);
    expect(report.devices[0]?.certificateId).toBe("expired".padEnd(64, "0"));
    expect(report.cursor).toBeUndefined();
  });

  it("reports the CAs expiring within 90 days, with their status", async () => {
    ca("a".repeat(64), "ACTIVE", 60);
    ca("b".repeat(64), "INACTIVE", 5);
    ca("d".repeat(64), "ACTIVE", 400);

    const report = await watchExpiry(deps, { limit: 1000 });

    expect(report.cas).toEqual([
      { caCertificateId: "b".repeat(64), status: "INACTIVE", notAfter: inDays(5), daysLeft: 5 },
      { caCertificateId: "a".repeat(64), status: "ACTIVE", notAfter: inDays(60), daysLeft: 60 },
    ]);
  });

  it("takes other horizons", async () => {
    device("in-40-days", "ACTIVE", 40);
    ca("a".repeat(64), "ACTIVE", 60);

    const report = await watchExpiry(deps, { deviceDays: 45, caDays: 30, limit: 1000 });

    expect(report.devices.map((d) => d.deviceId)).toEqual(["in-40-days"]);
    expect(report.cas).toEqual([]);
  });

  it("examines at most `limit` records a call, lists the CAs on the first call only, and goes on from its cursor", async () => {
    for (let i = 0; i < 5; i += 1) device(`active-${i}`, "ACTIVE", i);
    for (let i = 0; i < 3; i += 1) device(`suspended-${i}`, "SUSPENDED", i);
    ca("a".repeat(64), "ACTIVE", 1);

    const seen: string[] = [];
    const calls: { examined: number; cas: boolean }[] = [];
    let cursor: string | undefined;
    do {
      const report = await watchExpiry(deps, { limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...report.devices.map((d) => d.deviceId));
      calls.push({ examined: report.examined, cas: report.cas !== undefined });
      cursor = report.cursor;
    } while (cursor);

    expect(seen.sort()).toEqual([...store.devices.keys()].sort());
    expect(calls.map((call) => call.examined)).toEqual([3, 3, 2]);
    expect(calls.map((call) => call.cas)).toEqual([true, false, false]);
    expect(inventory.calls.filter((call) => call === "caCertificates")).toHaveLength(1);
  });
});
