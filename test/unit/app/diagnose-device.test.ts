import { beforeEach, describe, expect, it } from "vitest";
import { diagnoseDevice } from "#app/diagnose-device.js";
import type { Device } from "#domain/device.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import { allowlistEntry } from "#test/support/allowlist-entry.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

let store: InMemoryLifecycleStore;
let registry: FakeRegistry;

beforeEach(() => {
  store = new InMemoryLifecycleStore();
  registry = new FakeRegistry();
});

const entry = (deviceId: string, overrides: Partial<Device> = {}): Device => {
  const device = allowlistEntry(deviceId, overrides);
  store.devices.set(device.deviceId, device);
  return device;
};

const why = (deviceId: string) => diagnoseDevice({ store, registry }, deviceId as DeviceId);

describe("device why, for a device born through fleet provisioning", () => {
  it("says a listed device of a batch without a CA joins with a claim of its batch, not a CA's certificate", async () => {
    const { caCertificateId: _none, ...fleetOnly } = entry("f-1");
    store.devices.set(fleetOnly.deviceId, fleetOnly);

    expect((await why("f-1")).advice).toMatch(/its batch has no CA.*fleet provisioning, with a claim/);
    entry("j-1");
    expect((await why("j-1")).advice).toMatch(/certificate of its batch's CA/);
  });

  it("says a reserved device waits for its first connection with its new certificate, and until when", async () => {
    const certificateId = "c".repeat(64) as CertificateId;
    entry("f-2", {
      state: "PROVISIONING",
      certificate: {
        certificateId,
        certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
        certificateSha256: certificateId,
        publicKeySha256: "d".repeat(64),
        notBefore: "2026-11-25T10:00:00.000Z",
        notAfter: "2027-11-25T10:00:00.000Z",
        reservedUntil: "2026-11-25T11:00:00.000Z",
      },
    });

    expect((await why("f-2")).advice).toBe(
      "Allowed through fleet provisioning and reserved until 2026-11-25T11:00:00.000Z for its new certificate: its first connection with it makes it ACTIVE. If it never connects, a certificate IoT Core never activated gives the identity back to the next claim after that; one it activated keeps it (the reconciler then reports RESERVATION_NOT_CONFIRMED): revoke the device if it was lost.",
    );
    entry("j-2", { state: "PROVISIONING" });
    expect((await why("j-2")).advice).toMatch(/a step failed for a reason of ours/);
  });
});
