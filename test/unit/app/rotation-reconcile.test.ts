import { describe, expect, it } from "vitest";
import { reconcileDevice } from "#app/reconcile.js";
import { handleRotationMessage } from "#app/rotate-certificate.js";
import type { CaCertificateId, DeviceId } from "#domain/ids.js";
import { FakeInventory } from "#test/support/fake-inventory.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { createRotationWorld, type RotationWorld } from "#test/support/rotation-world.js";

const check = (world: RotationWorld) =>
  reconcileDevice(
    {
      inventory: new FakeInventory(world.registry),
      store: {
        getDevice: world.ledger.getDevice.bind(world.ledger),
        pageDevices: async () => ({ items: [] }),
      },
      clock: world.clock,
      thingGroupName: "fleetgate-devices",
    },
    "sensor-1" as DeviceId,
    { actor: "test" },
  );

describe("the reconciler, during a rotation", () => {
  it("takes the new certificate of the overlap as the device's: no drift", async () => {
    const world = await createRotationWorld();
    const { certificateId } = await world.activeDevice("sensor-1");
    await handleRotationMessage(world.deps, {
      kind: "csr",
      deviceId: "sensor-1" as DeviceId,
      speaker: certificateId,
      csr: (await world.csr("sensor-1")).pem,
    });

    expect((await check(world)).drifts).toEqual([]);
  });

  it("still reports an ACTIVE certificate on the Thing that neither the record nor a rotation names", async () => {
    const world = await createRotationWorld();
    await world.activeDevice("sensor-1");
    const stranger = "9".repeat(64);
    world.registry.certificates.set(stranger, {
      pem: "",
      status: "ACTIVE",
      caCertificateId: "c".repeat(64) as CaCertificateId,
    });
    world.registry.thingAttachments.add(`sensor-1|${FakeRegistry.arn(stranger)}`);

    expect((await check(world)).drifts).toMatchObject([
      { kind: "UNRECORDED_CERTIFICATE_ACTIVE", certificateId: stranger },
    ]);
  });
});
