import { describe, expect, it } from "vitest";
import { handleRotationMessage } from "#app/rotate-certificate.js";
import { releaseParkedTimers, runTimer } from "#app/rotation-timers.js";
import { DependencyUnavailableError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import type { RotationTimer } from "#domain/rotation.js";
import { createRotationWorld, type RotationWorld, WINDOWS } from "#test/support/rotation-world.js";

const MINUTE = 60_000;

const csrOf = (world: RotationWorld, deviceId: string, speaker: CertificateId, csr: string) =>
  handleRotationMessage(world.deps, { kind: "csr", deviceId: deviceId as DeviceId, speaker, csr });

const commitOf = (world: RotationWorld, deviceId: string, speaker: CertificateId) =>
  handleRotationMessage(world.deps, { kind: "commit", deviceId: deviceId as DeviceId, speaker });

/** A device that asked for a certificate and got one: the overlap. */
const issued = async (deviceId = "sensor-1") => {
  const world = await createRotationWorld();
  const { certificateId: old } = await world.activeDevice(deviceId);
  const request = await world.csr(deviceId);
  const outcome = await csrOf(world, deviceId, old, request.pem);
  if (outcome.kind !== "issued") throw new Error(`expected an issue, got ${JSON.stringify(outcome)}`);
  return { world, old, fresh: outcome.certificateId, request, deviceId };
};

const dueTimer = (world: RotationWorld, kind: RotationTimer["kind"]) => {
  const timer =
    world.queue.timers.find((sent) => sent.timer.kind === kind)?.timer ??
    world.ledger.parked.find((parked) => parked.kind === kind);
  if (!timer) throw new Error(`no ${kind} timer`);
  return timer;
};

describe("a certificate signing request over the device's current certificate", () => {
  it("issues a certificate of the new key beside the current one: both can connect until the commit", async () => {
    const { world, old, fresh } = await issued();

    expect(world.statusOf(old)).toBe("ACTIVE");
    expect(world.statusOf(fresh)).toBe("ACTIVE");
    expect(
      world.registry.thingAttachments.has(`sensor-1|arn:aws:iot:eu-west-1:123456789012:cert/${fresh}`),
    ).toBe(true);
    const device = await world.ledger.getDevice("sensor-1" as DeviceId);
    expect(device?.certificate?.certificateId).toBe(old);
    expect(device?.rotation).toMatchObject({
      state: "ISSUED",
      requestedBy: "device",
      issued: { certificateId: fresh },
      commitBy: "2026-11-25T12:10:00.000Z",
    });
  });

  it("answers on the device's accepted topic with the certificate and its commit deadline", async () => {
    const { world, fresh } = await issued();
    expect(world.messages.last()).toMatchObject({
      deviceId: "sensor-1",
      subtopic: "rotation/csr/accepted",
      payload: { certificateId: fresh, commitBy: "2026-11-25T12:10:00.000Z" },
    });
    expect(String(world.messages.last()?.payload.certificatePem)).toContain("BEGIN CERTIFICATE");
  });

  it("costs one certificate, one attachment and one activation, activation last", async () => {
    const { world } = await issued();
    expect(world.issuer.issued).toBe(1);
    expect(world.registry.calls).toEqual(["attachThingPrincipal", "updateCertificateStatus"]);
  });

  it("sets the commit deadline's timer, with the device's history saying who asked", async () => {
    const { world, fresh } = await issued();
    expect(world.queue.timers).toEqual([
      {
        timer: {
          kind: "commit-deadline",
          deviceId: "sensor-1",
          rotationId: "r-1",
          dueAt: "2026-11-25T12:10:00.000Z",
        },
        delaySeconds: WINDOWS.commitWithinSeconds,
      },
    ]);
    expect(world.ledger.events).toMatchObject([
      { type: "CERTIFICATE_ISSUED", actor: "device", certificateId: fresh },
    ]);
  });

  it("sent again (the answer was lost) answers the same certificate, issuing no second one", async () => {
    const { world, old, fresh, request } = await issued();
    const again = await csrOf(world, "sensor-1", old, request.pem);
    expect(again).toEqual({ kind: "issued", rotationId: "r-1", certificateId: fresh, resumed: true });
    expect(world.issuer.issued).toBe(1);
    expect(world.messages.sent.filter((m) => m.subtopic === "rotation/csr/accepted")).toHaveLength(2);
  });

  it("for another key while the first waits for its commit revokes the first and issues anew", async () => {
    const { world, old, fresh } = await issued();
    const second = await csrOf(world, "sensor-1", old, (await world.csr("sensor-1")).pem);
    if (second.kind !== "issued") throw new Error("expected an issue");
    expect(second.certificateId).not.toBe(fresh);
    expect(world.statusOf(fresh)).toBe("REVOKED");
    expect(world.statusOf(second.certificateId)).toBe("ACTIVE");
    expect(world.statusOf(old)).toBe("ACTIVE");
  });

  it("from the new certificate (not the current one) is refused, recorded, and issues nothing", async () => {
    const { world, fresh } = await issued();
    const outcome = await csrOf(world, "sensor-1", fresh, (await world.csr("sensor-1")).pem);
    expect(outcome).toMatchObject({ kind: "rejected", rejection: { code: "NOT_CURRENT_CERTIFICATE" } });
    expect(world.issuer.issued).toBe(1);
    expect(world.messages.last()).toMatchObject({
      subtopic: "rotation/csr/rejected",
      payload: { code: "NOT_CURRENT_CERTIFICATE" },
    });
    expect(world.ledger.historyOf("sensor-1")).toEqual(["CERTIFICATE_ISSUED", "ROTATION_REJECTED"]);
  });

  it("naming another device is refused by the crypto policy, and revokes nothing", async () => {
    const world = await createRotationWorld();
    const { certificateId } = await world.activeDevice("sensor-1");
    const outcome = await csrOf(world, "sensor-1", certificateId, (await world.csr("sensor-2")).pem);
    expect(outcome).toMatchObject({ rejection: { code: "DEVICE_ID_MISMATCH" } });
    expect(world.statusOf(certificateId)).toBe("ACTIVE");
    expect(world.registry.calls).toEqual([]);
  });

  it("the issuer refuses is answered as refused, not retried", async () => {
    const world = await createRotationWorld();
    const { certificateId } = await world.activeDevice("sensor-1");
    world.issuer.refuseNext = true;
    const outcome = await csrOf(world, "sensor-1", certificateId, (await world.csr("sensor-1")).pem);
    expect(outcome).toMatchObject({ kind: "rejected", rejection: { code: "ISSUER_REFUSED" } });
    expect((await world.ledger.getDevice("sensor-1" as DeviceId))?.rotation).toBeUndefined();
  });

  it("whose IoT step fails for our reasons throws for a retry, revokes nothing, and the retry finishes it", async () => {
    const world = await createRotationWorld();
    const { certificateId: old } = await world.activeDevice("sensor-1");
    const request = await world.csr("sensor-1");
    world.registry.failNext("attachThingPrincipal", new DependencyUnavailableError("IoT Core: 503"));

    await expect(csrOf(world, "sensor-1", old, request.pem)).rejects.toThrow(DependencyUnavailableError);
    // The deadline's timer is set before the step that failed: unfinished, it still rolls back.
    expect(world.queue.timers).toHaveLength(1);

    const retried = await csrOf(world, "sensor-1", old, request.pem);
    expect(retried).toMatchObject({ kind: "issued", resumed: true });
    expect(world.issuer.issued).toBe(1);
    expect(world.statusOf(old)).toBe("ACTIVE");
  });
});

describe("a commit", () => {
  it("over the new certificate's connection makes it the device's and deactivates the old one", async () => {
    const { world, old, fresh } = await issued();
    const outcome = await commitOf(world, "sensor-1", fresh);

    expect(outcome).toMatchObject({ kind: "committed", certificateId: fresh });
    expect(world.statusOf(old)).toBe("INACTIVE");
    expect(world.statusOf(fresh)).toBe("ACTIVE");
    const device = await world.ledger.getDevice("sensor-1" as DeviceId);
    expect(device?.certificate?.certificateId).toBe(fresh);
    expect(device?.rotation).toMatchObject({ state: "COMMITTED", replaced: { certificateId: old } });
    expect(world.messages.last()).toMatchObject({
      subtopic: "rotation/commit/accepted",
      payload: { certificateId: fresh, replacedCertificateId: old, revokeAt: "2026-11-26T12:00:00.000Z" },
    });
    expect(world.ledger.historyOf("sensor-1")).toEqual(["CERTIFICATE_ISSUED", "ROTATION_COMMITTED"]);
  });

  it("over the old certificate's connection is ignored: refused, recorded, both still ACTIVE", async () => {
    const { world, old, fresh } = await issued();
    const outcome = await commitOf(world, "sensor-1", old);
    expect(outcome).toMatchObject({ rejection: { code: "COMMIT_NOT_OVER_NEW_CERTIFICATE" } });
    expect(world.statusOf(old)).toBe("ACTIVE");
    expect(world.statusOf(fresh)).toBe("ACTIVE");
    expect((await world.ledger.getDevice("sensor-1" as DeviceId))?.rotation?.state).toBe("ISSUED");
    expect(world.messages.last()?.subtopic).toBe("rotation/commit/rejected");
  });

  it("parks the grace period's timer when it is due later than a queue can delay it", async () => {
    const { world, fresh } = await issued();
    await commitOf(world, "sensor-1", fresh);
    expect(world.ledger.parked).toEqual([
      { kind: "revoke-replaced", deviceId: "sensor-1", rotationId: "r-1", dueAt: "2026-11-26T12:00:00.000Z" },
    ]);
  });
});

describe("the timers", () => {
  it("roll back a rotation never committed: the new certificate is revoked, the old one stays", async () => {
    const { world, old, fresh } = await issued();
    world.advance(10 * MINUTE + 1);

    expect(await runTimer(world.deps, dueTimer(world, "commit-deadline"))).toBe("roll-back");

    expect(world.statusOf(fresh)).toBe("REVOKED");
    expect(world.statusOf(old)).toBe("ACTIVE");
    const device = await world.ledger.getDevice("sensor-1" as DeviceId);
    expect(device?.certificate?.certificateId).toBe(old);
    expect(device?.rotation).toMatchObject({ state: "ROLLED_BACK" });
    expect(world.ledger.events.at(-1)).toMatchObject({
      type: "ROTATION_ROLLED_BACK",
      actor: "rotation-timer",
      certificateId: fresh,
    });
    expect(world.ledger.retirements.get(fresh)).toMatchObject({ deviceId: "sensor-1", why: "REVOKED" });
  });

  it("end the grace period: the replaced certificate is revoked and queued for retirement", async () => {
    const { world, old, fresh } = await issued();
    await commitOf(world, "sensor-1", fresh);
    world.advance(86_400_000 - 10 * MINUTE);
    expect(await releaseParkedTimers(world.deps)).toBe(1);
    world.advance(10 * MINUTE);

    expect(await runTimer(world.deps, dueTimer(world, "revoke-replaced"))).toBe("complete");

    expect(world.statusOf(old)).toBe("REVOKED");
    expect(world.statusOf(fresh)).toBe("ACTIVE");
    expect((await world.ledger.getDevice("sensor-1" as DeviceId))?.rotation?.state).toBe("COMPLETED");
    expect(world.ledger.retirements.get(old)).toMatchObject({ why: "REPLACED" });
    expect(world.ledger.historyOf("sensor-1")).toEqual([
      "CERTIFICATE_ISSUED",
      "ROTATION_COMMITTED",
      "ROTATION_COMPLETED",
    ]);
  });

  it("leave a whole rotation, request to completion, at five control-plane calls: one certificate, one attachment, three status changes", async () => {
    const { world, fresh } = await issued();
    await commitOf(world, "sensor-1", fresh);
    world.advance(86_400_000);
    await runTimer(world.deps, dueTimer(world, "revoke-replaced"));

    expect(world.issuer.issued).toBe(1);
    expect(world.registry.calls).toEqual([
      "attachThingPrincipal",
      "updateCertificateStatus",
      "updateCertificateStatus",
      "updateCertificateStatus",
    ]);
    // And two answers on the device's topics (IoT Core's data plane, not the control plane's quotas).
    expect(world.messages.sent.map((m) => m.subtopic)).toEqual([
      "rotation/csr/accepted",
      "rotation/commit/accepted",
    ]);
  });

  it("of a committed rotation's deadline does nothing", async () => {
    const { world, old, fresh } = await issued();
    await commitOf(world, "sensor-1", fresh);
    world.advance(10 * MINUTE + 1);
    expect(await runTimer(world.deps, dueTimer(world, "commit-deadline"))).toBe("drop");
    expect(world.statusOf(fresh)).toBe("ACTIVE");
    expect(world.statusOf(old)).toBe("INACTIVE");
  });

  it("and a commit racing each other: when the rollback is recorded first the commit is refused", async () => {
    const { world, old, fresh } = await issued();
    world.advance(10 * MINUTE - 1);
    // The commit read the device; the deadline's rollback lands before its write.
    world.ledger.raceNext = () => {
      const device = world.ledger.devices.get("sensor-1");
      if (device?.rotation?.state !== "ISSUED") throw new Error("expected the overlap");
      world.ledger.devices.set("sensor-1", {
        ...device,
        version: device.version + 1,
        rotation: { ...device.rotation, state: "ROLLED_BACK", rolledBackAt: "x", why: "no commit" },
      });
    };

    const outcome = await commitOf(world, "sensor-1", fresh);

    expect(outcome).toMatchObject({ kind: "rejected", rejection: { code: "NO_ROTATION_TO_COMMIT" } });
    expect(world.statusOf(old)).toBe("ACTIVE");
  });

  it("redelivered after its rollback was recorded revoke again (the revocation may not have run)", async () => {
    const { world, fresh } = await issued();
    world.advance(10 * MINUTE + 1);
    world.registry.failNext("updateCertificateStatus", new DependencyUnavailableError("IoT Core: 503"));
    const timer = dueTimer(world, "commit-deadline");
    await expect(runTimer(world.deps, timer)).rejects.toThrow(DependencyUnavailableError);
    expect(world.statusOf(fresh)).toBe("ACTIVE");

    expect(await runTimer(world.deps, timer)).toBe("finished");
    expect(world.statusOf(fresh)).toBe("REVOKED");
  });

  it("come back early wait again (a sweep queued a parked timer a little before it is due)", async () => {
    const { world } = await issued();
    const timer = dueTimer(world, "commit-deadline");
    world.advance(9 * MINUTE);
    expect(await runTimer(world.deps, timer)).toBe("wait");
    expect(world.queue.timers.at(-1)).toEqual({ timer, delaySeconds: 60 });
  });
});
