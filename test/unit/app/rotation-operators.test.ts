import { describe, expect, it } from "vitest";
import { operateDevice } from "#app/operate-device.js";
import { handleRotationMessage } from "#app/rotate-certificate.js";
import { runTimer } from "#app/rotation-timers.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import { createRotationWorld, type RotationWorld } from "#test/support/rotation-world.js";

const OPERATOR = "arn:aws:iam::123456789012:user/ops";

/** A device in the overlap: its current certificate and a new one, both ACTIVE. */
const overlapping = async () => {
  const world = await createRotationWorld();
  const { certificateId: old } = await world.activeDevice("sensor-1");
  const outcome = await handleRotationMessage(world.deps, {
    kind: "csr",
    deviceId: "sensor-1" as DeviceId,
    speaker: old,
    csr: (await world.csr("sensor-1")).pem,
  });
  if (outcome.kind !== "issued") throw new Error("expected an issue");
  return { world, old, fresh: outcome.certificateId };
};

const operate = (world: RotationWorld, action: "revoke" | "suspend" | "decommission") =>
  operateDevice(
    {
      registry: world.registry,
      connections: { disconnect: async () => "dropped" },
      store: world.ledger,
      clock: world.clock,
    },
    { deviceId: "sensor-1" as DeviceId, action, actor: OPERATOR, reason: "drill" },
  );

const deadlineOf = (world: RotationWorld) => {
  const timer = world.queue.timers[0]?.timer;
  if (!timer) throw new Error("no deadline");
  return timer;
};

describe("an operator's action on a device in the middle of a rotation", () => {
  it("revoke takes the new certificate with the current one; the deadline then records the rollback", async () => {
    const { world, old, fresh } = await overlapping();

    await operate(world, "revoke");

    expect(world.statusOf(old)).toBe("REVOKED");
    expect(world.statusOf(fresh)).toBe("REVOKED");
    world.advance(11 * 60_000);
    expect(await runTimer(world.deps, deadlineOf(world))).toBe("roll-back");
    expect((await world.ledger.getDevice("sensor-1" as DeviceId))?.rotation?.state).toBe("ROLLED_BACK");
  });

  it("suspend deactivates the new certificate too, so that neither connects", async () => {
    const { world, old, fresh } = await overlapping();
    await operate(world, "suspend");
    expect(world.statusOf(old)).toBe("INACTIVE");
    expect(world.statusOf(fresh)).toBe("INACTIVE");
  });

  it("a commit after the device was suspended does not count", async () => {
    const { world, fresh } = await overlapping();
    await operate(world, "suspend");
    const outcome = await handleRotationMessage(world.deps, {
      kind: "commit",
      deviceId: "sensor-1" as DeviceId,
      speaker: fresh as CertificateId,
    });
    expect(outcome).toMatchObject({ kind: "rejected", rejection: { code: "DEVICE_NOT_ACTIVE" } });
  });

  it("decommission detaches both certificates, since IoT Core deletes no Thing that holds one", async () => {
    const { world, old, fresh } = await overlapping();
    await operate(world, "decommission");
    expect(world.statusOf(old)).toBe("REVOKED");
    expect(world.statusOf(fresh)).toBe("REVOKED");
    expect(world.registry.things.has("sensor-1")).toBe(false);
  });

  it("revoke during the grace period revokes the replaced certificate at once", async () => {
    const { world, old, fresh } = await overlapping();
    await handleRotationMessage(world.deps, {
      kind: "commit",
      deviceId: "sensor-1" as DeviceId,
      speaker: fresh,
    });
    expect(world.statusOf(old)).toBe("INACTIVE");
    await operate(world, "revoke");
    expect(world.statusOf(old)).toBe("REVOKED");
    expect(world.statusOf(fresh)).toBe("REVOKED");
  });
});
