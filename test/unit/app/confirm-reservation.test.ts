import { beforeEach, describe, expect, it } from "vitest";
import { confirmReservations } from "#app/confirm-reservation.js";
import type { Device } from "#domain/device.js";
import { ConcurrentUpdateError, DependencyUnavailableError } from "#domain/errors.js";
import type { CertificateId } from "#domain/ids.js";
import { allowlistEntry } from "#test/support/allowlist-entry.js";
import { InMemoryFleetStore } from "#test/support/in-memory-fleet.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const NOW = new Date("2026-11-25T12:00:00.000Z");
let table: InMemoryLifecycleStore;
let fleet: InMemoryFleetStore;

beforeEach(() => {
  table = new InMemoryLifecycleStore();
  fleet = new InMemoryFleetStore(table);
});

const certificate = (tag: string) => tag.repeat(64).slice(0, 64) as CertificateId;

const claimed = async (deviceId: string, certificateId: CertificateId, reservedUntil?: string) => {
  const device = allowlistEntry(deviceId);
  await table.addDevices([device]);
  return table.claim(
    device,
    {
      certificateId,
      certificateArn: `arn:${certificateId}`,
      certificateSha256: "1",
      publicKeySha256: "2",
      notBefore: "2026",
      notAfter: "2049",
      ...(reservedUntil ? { reservedUntil } : {}),
    },
    { deviceId: device.deviceId, at: NOW.toISOString(), type: "PROVISIONING_STARTED", actor: "test" },
  );
};

const deps = () => ({ fleet, store: table, clock: { now: () => NOW } });

describe("confirmReservations", () => {
  it("activates an entry reserved for a certificate that connected, with its event", async () => {
    await claimed("fp-1", certificate("1"), "2026-11-25T13:00:00.000Z");

    expect(await confirmReservations(deps(), [certificate("1")])).toEqual({
      confirmed: ["fp-1"],
      failed: [],
    });
    expect(table.devices.get("fp-1")?.state).toBe("ACTIVE");
    expect(table.events.map((e) => e.type)).toEqual(["PROVISIONING_STARTED", "ACTIVATED"]);
  });

  it("changes nothing for a repeated event, another certificate's connection, or a JITR claim in progress", async () => {
    await claimed("fp-2", certificate("2"), "2026-11-25T13:00:00.000Z");
    await confirmReservations(deps(), [certificate("2")]);
    await claimed("jitr-1", certificate("3"));

    expect(await confirmReservations(deps(), [certificate("2"), certificate("3"), certificate("4")])).toEqual(
      {
        confirmed: [],
        failed: [],
      },
    );
    expect(table.devices.get("jitr-1")?.state).toBe("PROVISIONING");
  });

  it("leaves an entry that moved meanwhile, and gives back for another try what failed on our side", async () => {
    await claimed("fp-3", certificate("5"), "2026-11-25T13:00:00.000Z");
    await claimed("fp-4", certificate("6"), "2026-11-25T13:00:00.000Z");
    const store = {
      activate: async (device: Device) => {
        throw device.deviceId === "fp-3"
          ? new ConcurrentUpdateError("moved")
          : new DependencyUnavailableError("down");
      },
    };

    expect(await confirmReservations({ ...deps(), store }, [certificate("5"), certificate("6")])).toEqual({
      confirmed: [],
      failed: [certificate("6")],
    });
  });
});
