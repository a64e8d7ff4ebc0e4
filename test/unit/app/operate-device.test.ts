import { beforeEach, describe, expect, it } from "vitest";
import { type OperationDeps, operateDevice } from "#app/operate-device.js";
import type { ConnectionControl, DisconnectOutcome } from "#app/ports.js";
import { provisionCertificate } from "#app/provision-certificate.js";
import { IllegalTransitionError, NotFoundError, ValidationError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import { createProvisioningWorld, type ProvisioningWorld } from "#test/support/provisioning-world.js";

let world: ProvisioningWorld;
let deps: OperationDeps;
let disconnected: string[];

const connections: ConnectionControl = {
  async disconnect(clientId): Promise<DisconnectOutcome> {
    disconnected.push(clientId);
    return "dropped";
  },
};

const provisioned = async (deviceId: string) => {
  world.allow(deviceId);
  const event = await world.connect({ deviceId });
  await provisionCertificate(world.deps, event);
  return event.certificateId;
};

const act = (
  deviceId: string,
  action: "revoke" | "suspend" | "reactivate" | "decommission",
  reason?: string,
) =>
  operateDevice(deps, {
    deviceId: deviceId as DeviceId,
    action,
    actor: "arn:aws:iam::123456789012:user/ops-alice",
    ...(reason ? { reason } : {}),
  });

beforeEach(async () => {
  world = await createProvisioningWorld();
  disconnected = [];
  deps = {
    registry: world.registry,
    connections,
    store: world.store,
    clock: world.deps.clock,
  };
});

describe("operateDevice", () => {
  it("suspends: certificate INACTIVE, live connection dropped, state and event with actor and reason", async () => {
    const certificateId = await provisioned("sensor-1");

    const result = await act("sensor-1", "suspend", "battery fire investigation");

    expect(result).toMatchObject({ device: { state: "SUSPENDED" }, connection: "dropped" });
    expect(world.registry.certificates.get(certificateId)?.status).toBe("INACTIVE");
    expect(disconnected).toEqual(["sensor-1"]);
    expect(world.store.events.at(-1)).toMatchObject({
      type: "SUSPENDED",
      actor: "arn:aws:iam::123456789012:user/ops-alice",
      reason: "battery fire investigation",
      from: "ACTIVE",
      to: "SUSPENDED",
      certificateId,
    });
  });

  it("reactivates a suspended device", async () => {
    const certificateId = await provisioned("sensor-1");
    await act("sensor-1", "suspend", "check");
    expect((await act("sensor-1", "reactivate")).device.state).toBe("ACTIVE");
    expect(world.registry.certificates.get(certificateId)?.status).toBe("ACTIVE");
  });

  it("revokes: certificate REVOKED, and the identity cannot come back with a new certificate", async () => {
    const certificateId = await provisioned("sensor-1");
    await act("sensor-1", "revoke", "key leaked");
    expect(world.registry.certificates.get(certificateId)?.status).toBe("REVOKED");

    const comeback = await world.connect({ deviceId: "sensor-1" });
    const outcome = await provisionCertificate(world.deps, comeback);

    expect(outcome).toMatchObject({ kind: "refused", refusal: { code: "ALLOWLIST_ENTRY_NOT_ALLOWED" } });
    expect(world.registry.certificates.get(comeback.certificateId)?.status).toBe("REVOKED");
  });

  it("refuses an illegal transition with a clear message and changes nothing", async () => {
    await provisioned("sensor-1");
    await act("sensor-1", "revoke", "key leaked");
    const calls = world.registry.calls.length;
    await expect(act("sensor-1", "reactivate")).rejects.toThrow(IllegalTransitionError);
    await expect(act("sensor-1", "reactivate")).rejects.toThrow("cannot reactivate a device that is REVOKED");
    expect(world.registry.calls.length).toBe(calls);
  });

  it("decommissions: detaches the certificate, deletes the Thing (and so its group membership), revokes, keeps the history", async () => {
    const certificateId = await provisioned("sensor-1");

    const result = await act("sensor-1", "decommission", "end of life");

    expect(result.device.state).toBe("DECOMMISSIONED");
    expect(world.registry.things.has("sensor-1")).toBe(false);
    expect(world.registry.thingAttachments.size).toBe(0);
    expect(world.registry.groups.has("sensor-1")).toBe(false);
    expect(world.registry.certificates.get(certificateId)?.status).toBe("REVOKED");
    expect(world.store.events.filter((e) => e.deviceId === "sensor-1").map((e) => e.type)).toEqual([
      "PROVISIONING_STARTED",
      "ACTIVATED",
      "DECOMMISSIONED",
    ]);
  });

  it("revokes a device caught mid-provisioning, and the interrupted provisioning does not bring it back", async () => {
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1" });
    world.registry.failNext("attachThingPrincipal", new Error("Lambda timed out"));
    await expect(provisionCertificate(world.deps, event)).rejects.toThrow();
    expect(world.store.devices.get("sensor-1")?.state).toBe("PROVISIONING");

    await act("sensor-1", "revoke", "lot recalled");
    const redelivered = await provisionCertificate(world.deps, event);

    expect(redelivered.kind).toBe("unchanged");
    expect(world.store.devices.get("sensor-1")?.state).toBe("REVOKED");
    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("REVOKED");
    expect(disconnected).toEqual([]);
  });

  // A device id that is not a Thing name is refused where it is parsed: the API's routes.
  it("requires a reason for destructive actions and an existing device", async () => {
    await provisioned("sensor-1");
    await expect(act("sensor-1", "revoke", "   ")).rejects.toThrow(
      new ValidationError("reason is required to revoke a device"),
    );
    await expect(act("ghost", "suspend", "x")).rejects.toThrow(NotFoundError);
  });

  it("finishes on retry after IoT failed half-way through a decommission", async () => {
    await provisioned("sensor-1");
    world.registry.failNext("deleteThing", new Error("connection reset"));
    await expect(act("sensor-1", "decommission", "eol")).rejects.toThrow("connection reset");
    expect(world.store.devices.get("sensor-1")?.state).toBe("ACTIVE");
    expect((await act("sensor-1", "decommission", "eol")).device.state).toBe("DECOMMISSIONED");
    expect(world.registry.things.has("sensor-1")).toBe(false);
  });

  it.each([
    ["revoke", "REVOKED"],
    ["suspend", "SUSPENDED"],
    ["decommission", "DECOMMISSIONED"],
  ] as const)(
    "%ss a device whose certificate no longer exists in IoT Core: a missing certificate is a finished step",
    async (action, state) => {
      const certificateId = await provisioned("sensor-1");
      world.registry.certificates.delete(certificateId);

      const result = await act("sensor-1", action, "certificate deleted by hand");

      expect(result.device.state).toBe(state);
      expect(world.store.events.at(-1)).toMatchObject({ type: state, certificateId });
    },
  );

  it("refuses to reactivate a device whose certificate no longer exists, naming it, without AWS's words", async () => {
    const certificateId = await provisioned("sensor-1");
    await act("sensor-1", "suspend", "check");
    world.registry.certificates.delete(certificateId);

    const refusal = act("sensor-1", "reactivate");

    await expect(refusal).rejects.toThrow(IllegalTransitionError);
    await expect(act("sensor-1", "reactivate")).rejects.toThrow(
      `cannot reactivate device sensor-1: its certificate ${certificateId} no longer exists in IoT Core`,
    );
    expect(world.store.devices.get("sensor-1")?.state).toBe("SUSPENDED");
  });
});

describe("operateDevice: two operators at once", () => {
  /** Runs `first` against the device just before `second` reaches IoT Core: `second` read the device before. */
  const race = async (
    setup: readonly ("suspend" | "revoke")[],
    first: "revoke" | "decommission",
    second: "reactivate" | "suspend" | "revoke" | "decommission",
  ) => {
    await provisioned("sensor-1");
    for (const step of setup) await act("sensor-1", step, "setup");
    let interleaved = false;
    const registry = Object.create(world.registry, {
      updateCertificateStatus: {
        value: async (certificateId: CertificateId, status: "ACTIVE" | "INACTIVE" | "REVOKED") => {
          if (!interleaved) {
            interleaved = true;
            await operateDevice(deps, {
              deviceId: "sensor-1" as DeviceId,
              action: first,
              actor: "ops-bob",
              reason: "lost",
            });
          }
          return world.registry.updateCertificateStatus(certificateId, status);
        },
      },
    });
    return operateDevice(
      { ...deps, registry },
      { deviceId: "sensor-1" as DeviceId, action: second, actor: "ops-alice", reason: "race" },
    );
  };

  it.each([
    [["suspend"], "revoke", "reactivate", "REVOKED"],
    [[], "revoke", "suspend", "REVOKED"],
    [[], "decommission", "revoke", "DECOMMISSIONED"],
    [["suspend"], "decommission", "reactivate", "DECOMMISSIONED"],
    [[], "decommission", "suspend", "DECOMMISSIONED"],
  ] as const)(
    "after %j, a %s that lands first makes a racing %s an illegal transition, not a dependency failure",
    async (setup, first, second, state) => {
      await expect(race(setup, first, second)).rejects.toThrow(
        new IllegalTransitionError(
          `cannot ${second} a device that is ${state} (allowed from ${second === "reactivate" ? "SUSPENDED" : second === "suspend" ? "ACTIVE" : "ALLOWED, PROVISIONING, ACTIVE, SUSPENDED"})`,
        ),
      );
      expect(world.store.devices.get("sensor-1")?.state).toBe(state);
    },
  );

  it("retries an action that lost a race but is still allowed afterwards", async () => {
    const result = await race(["suspend"], "revoke", "decommission");
    expect(result.device.state).toBe("DECOMMISSIONED");
  });
});
