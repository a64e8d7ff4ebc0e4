import { beforeEach, describe, expect, it } from "vitest";
import { provisionCertificate } from "#app/provision-certificate.js";
import {
  ConfigurationError,
  DependencyRejectedError,
  DependencyUnavailableError,
  ThrottledError,
} from "#domain/errors.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import {
  createProvisioningWorld,
  type ProvisioningWorld,
  THING_GROUP,
  WAIT_LIMIT_MS,
} from "#test/support/provisioning-world.js";

let world: ProvisioningWorld;
let now: Date;

beforeEach(async () => {
  now = new Date("2026-11-25T12:00:00Z");
  world = await createProvisioningWorld(() => now);
});

const eventsOf = (deviceId: string) =>
  world.store.events.filter((e) => e.deviceId === deviceId).map((e) => e.type);

describe("provisionCertificate: an allowed device", () => {
  it("creates the Thing, puts it in the devices' group, attaches the certificate, activates it last, and records ACTIVE", async () => {
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1" });

    const outcome = await provisionCertificate(world.deps, event);

    expect(outcome).toEqual({
      kind: "provisioned",
      certificateId: event.certificateId,
      deviceId: "sensor-1",
      resumed: false,
    });
    const arn = FakeRegistry.arn(event.certificateId);
    expect(world.registry.things.get("sensor-1")).toEqual({ color: "red", batch: "batch-1", model: "m1" });
    expect(world.registry.groups.get("sensor-1")).toEqual(new Set([THING_GROUP]));
    expect(world.registry.thingAttachments).toEqual(new Set([`sensor-1|${arn}`]));
    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("ACTIVE");
    expect(world.registry.calls.at(-1)).toBe("updateCertificateStatus");
    const device = world.store.devices.get("sensor-1");
    expect(device).toMatchObject({
      state: "ACTIVE",
      certificate: { certificateId: event.certificateId },
      version: 3,
    });
    expect(eventsOf("sensor-1")).toEqual(["PROVISIONING_STARTED", "ACTIVATED"]);
  });

  it("touches no policy at a device's request: every device joins the one group, and the CA is described once", async () => {
    for (const id of ["a-1", "a-2", "a-3"]) {
      world.allow(id);
      await provisionCertificate(world.deps, await world.connect({ deviceId: id }));
    }
    expect(new Set(world.registry.calls)).toEqual(
      new Set([
        "describeCertificate",
        "describeCaCertificate",
        "createThing",
        "addThingToGroup",
        "attachThingPrincipal",
        "updateCertificateStatus",
      ]),
    );
    expect(world.registry.calls.filter((c) => c === "describeCaCertificate")).toHaveLength(1);
  });

  it("does nothing the second time the same event arrives", async () => {
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1" });
    await provisionCertificate(world.deps, event);

    const again = await provisionCertificate(world.deps, event);

    expect(again).toMatchObject({ kind: "unchanged", why: "device already ACTIVE" });
    expect(eventsOf("sensor-1")).toEqual(["PROVISIONING_STARTED", "ACTIVATED"]);
  });

  it("provisions once when the same event is processed twice at the same time", async () => {
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1" });

    const outcomes = await Promise.all([
      provisionCertificate(world.deps, event),
      provisionCertificate(world.deps, event),
    ]);

    expect(outcomes.map((o) => o.kind).sort()).toEqual(["provisioned", "unchanged"]);
    expect(eventsOf("sensor-1").filter((t) => t === "ACTIVATED")).toHaveLength(1);
    expect(world.registry.things.size).toBe(1);
  });
});

describe("provisionCertificate: crashes and failures", () => {
  it.each(["createThing", "addThingToGroup", "attachThingPrincipal", "updateCertificateStatus"] as const)(
    "finishes on redelivery after a failure of %s, with one activation event",
    async (method) => {
      world.allow("sensor-1");
      const event = await world.connect({ deviceId: "sensor-1" });
      world.registry.failNext(method, new DependencyUnavailableError("connection reset"));

      await expect(provisionCertificate(world.deps, event)).rejects.toThrow(DependencyUnavailableError);
      expect(world.registry.certificates.get(event.certificateId)?.status).toBe("PENDING_ACTIVATION");
      const outcome = await provisionCertificate(world.deps, event);

      expect(outcome).toMatchObject({ kind: "provisioned", resumed: true });
      expect(world.store.devices.get("sensor-1")?.state).toBe("ACTIVE");
      expect(eventsOf("sensor-1")).toEqual(["PROVISIONING_STARTED", "ACTIVATED"]);
    },
  );

  it("finishes on redelivery when the crash came after activation, before the record", async () => {
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1" });
    const activate = world.store.activate.bind(world.store);
    world.store.activate = async () => {
      throw new DependencyUnavailableError("crash");
    };
    await expect(provisionCertificate(world.deps, event)).rejects.toThrow();
    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("ACTIVE");
    world.store.activate = activate;

    expect(await provisionCertificate(world.deps, event)).toMatchObject({
      kind: "provisioned",
      resumed: true,
    });
    expect(world.store.devices.get("sensor-1")?.state).toBe("ACTIVE");
  });

  it("reports throttling as a transient failure and changes nothing", async () => {
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1" });
    world.registry.failNext("describeCertificate", new ThrottledError("ThrottlingException"));

    await expect(provisionCertificate(world.deps, event)).rejects.toThrow(ThrottledError);
    expect(world.store.devices.get("sensor-1")?.state).toBe("ALLOWED");
  });

  it.each([
    ["a missing grant", new ConfigurationError("AttachThingPrincipal: AccessDeniedException")],
    [
      "a step IoT Core refuses for our reasons",
      new DependencyRejectedError("InvalidRequestException: thing type deprecated"),
    ],
  ])(
    "revokes nothing when provisioning fails for %s: the claim waits for the fix and then finishes",
    async (_, error) => {
      world.allow("sensor-1");
      const event = await world.connect({ deviceId: "sensor-1" });
      world.registry.failNext("attachThingPrincipal", error);

      await expect(provisionCertificate(world.deps, event)).rejects.toThrow(error);

      expect(world.registry.certificates.get(event.certificateId)?.status).toBe("PENDING_ACTIVATION");
      expect(world.store.devices.get("sensor-1")).toMatchObject({
        state: "PROVISIONING",
        certificate: { certificateId: event.certificateId },
      });
      expect(world.store.certificates.get(event.certificateId)).toMatchObject({ outcome: "ASSIGNED" });
      expect(await provisionCertificate(world.deps, event)).toMatchObject({
        kind: "provisioned",
        resumed: true,
      });
      expect(eventsOf("sensor-1")).toEqual(["PROVISIONING_STARTED", "ACTIVATED"]);
    },
  );

  it("revokes nothing when the CA IoT Core named cannot be described: our inconsistency, thrown for a person", async () => {
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1" });
    world.registry.cas.delete(world.caCertificateId);

    await expect(provisionCertificate(world.deps, event)).rejects.toThrow(ConfigurationError);

    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("PENDING_ACTIVATION");
    expect(world.store.certificates.size).toBe(0);
  });

  it("ignores a certificate deleted before its event was processed", async () => {
    const event = await world.connect({ deviceId: "sensor-1" });
    world.registry.certificates.delete(event.certificateId);
    expect(await provisionCertificate(world.deps, event)).toMatchObject({
      kind: "unchanged",
      why: "certificate no longer exists",
    });
  });
});

describe("provisionCertificate: refusals", () => {
  it("refuses a clone: the second certificate for an active identity is revoked, the first device stays ACTIVE", async () => {
    world.allow("sensor-1");
    const first = await world.connect({ deviceId: "sensor-1" });
    await provisionCertificate(world.deps, first);
    const clone = await world.connect({ deviceId: "sensor-1" });

    const outcome = await provisionCertificate(world.deps, clone);

    expect(outcome).toMatchObject({
      kind: "refused",
      refusal: { code: "IDENTITY_ALREADY_CLAIMED" },
      security: true,
    });
    expect(world.registry.certificates.get(clone.certificateId)?.status).toBe("REVOKED");
    expect(world.registry.certificates.get(first.certificateId)?.status).toBe("ACTIVE");
    expect(world.store.devices.get("sensor-1")).toMatchObject({
      state: "ACTIVE",
      certificate: { certificateId: first.certificateId },
    });
    expect(eventsOf("sensor-1")).toEqual(["PROVISIONING_STARTED", "ACTIVATED", "CLONE_REFUSED"]);
  });

  it("lets exactly one of two different certificates racing for one identity win", async () => {
    world.allow("sensor-1");
    const a = await world.connect({ deviceId: "sensor-1" });
    const b = await world.connect({ deviceId: "sensor-1" });

    const outcomes = await Promise.all([
      provisionCertificate(world.deps, a),
      provisionCertificate(world.deps, b),
    ]);

    expect(outcomes.map((o) => o.kind).sort()).toEqual(["provisioned", "refused"]);
    const statuses = [a, b].map((e) => world.registry.certificates.get(e.certificateId)?.status).sort();
    expect(statuses).toEqual(["ACTIVE", "REVOKED"]);
  });

  it("lets a certificate issued by a CA that is not the batch's wait, recorded with the reason", async () => {
    const otherCa = await (await import("#local/dev-pki.js")).createCa({ name: "Other line" });
    const { idOf } = await import("#test/support/provisioning-world.js");
    world.registry.cas.set(idOf(otherCa.pem), {
      caCertificateId: idOf(otherCa.pem) as never,
      status: "ACTIVE",
      pem: otherCa.pem,
    });
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1" }, otherCa);

    expect(await provisionCertificate(world.deps, event)).toMatchObject({
      kind: "waiting",
      refusal: { code: "CA_NOT_BATCH_CA" },
    });
    expect(world.store.devices.get("sensor-1")?.state).toBe("ALLOWED");
    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("PENDING_ACTIVATION");
  });

  it("lets devices of a CA an operator deactivated wait, revoking nothing", async () => {
    world.registry.setCaStatus(world.caCertificateId, "INACTIVE");
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1" });
    expect(await provisionCertificate(world.deps, event)).toMatchObject({
      kind: "waiting",
      refusal: { code: "CA_NOT_ACTIVE" },
    });
    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("PENDING_ACTIVATION");
  });

  it("records a refusal once, however often the event comes back", async () => {
    world.allow("sensor-1");
    const event = await world.connect({ deviceId: "sensor-1", key: { type: "RSA", bits: 1024 } });
    await provisionCertificate(world.deps, event);
    world.registry.setStatus(event.certificateId, "PENDING_ACTIVATION"); // revocation lost in a crash
    const again = await provisionCertificate(world.deps, event);
    expect(again).toMatchObject({ kind: "unchanged", why: "refused before: KEY_WEAK" });
    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("REVOKED");
  });
});

describe("provisionCertificate: a device that connects before its manifest", () => {
  it("waits: nothing revoked, nothing created, recorded under the certificate with the reason", async () => {
    const event = await world.connect({ deviceId: "early-1" });

    const outcome = await provisionCertificate(world.deps, event);

    expect(outcome).toMatchObject({
      kind: "waiting",
      deviceId: "early-1",
      refusal: { code: "NOT_ON_ALLOWLIST" },
      since: now.toISOString(),
    });
    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("PENDING_ACTIVATION");
    expect(world.registry.things.size).toBe(0);
    expect(world.store.certificates.get(event.certificateId)).toMatchObject({
      outcome: "WAITING",
      refusal: { code: "NOT_ON_ALLOWLIST" },
      firstSeenAt: now.toISOString(),
      attempts: 1,
    });
  });

  it("counts each connect while it waits, keeping when it was first seen", async () => {
    const event = await world.connect({ deviceId: "early-1" });
    await provisionCertificate(world.deps, event);
    const first = now.toISOString();
    now = new Date(now.getTime() + 60_000);

    expect(await provisionCertificate(world.deps, event)).toMatchObject({ kind: "waiting", since: first });
    expect(world.store.certificates.get(event.certificateId)).toMatchObject({
      firstSeenAt: first,
      lastSeenAt: now.toISOString(),
      attempts: 2,
    });
  });

  it("is provisioned on its first connect after the manifest lands", async () => {
    const event = await world.connect({ deviceId: "early-1" });
    await provisionCertificate(world.deps, event);
    world.allow("early-1");

    expect(await provisionCertificate(world.deps, event)).toMatchObject({ kind: "provisioned" });
    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("ACTIVE");
    expect(world.store.certificates.get(event.certificateId)).toMatchObject({ outcome: "ASSIGNED" });
  });

  it("is refused and revoked once it has waited longer than the limit", async () => {
    const event = await world.connect({ deviceId: "early-1" });
    await provisionCertificate(world.deps, event);
    const first = now.toISOString();
    now = new Date(now.getTime() + WAIT_LIMIT_MS);

    expect(await provisionCertificate(world.deps, event)).toMatchObject({
      kind: "refused",
      refusal: { code: "NOT_ON_ALLOWLIST", detail: `device id early-1; waited since ${first}` },
    });
    expect(world.registry.certificates.get(event.certificateId)?.status).toBe("REVOKED");
  });
});

describe("provisionCertificate: the history of the device a certificate names", () => {
  it("holds a refusal even when the device is not on the allowlist", async () => {
    const event = await world.connect({ deviceId: "unlisted-1", key: { type: "RSA", bits: 1024 } });

    await provisionCertificate(world.deps, event);

    expect(world.store.events.filter((e) => e.deviceId === "unlisted-1")).toEqual([
      expect.objectContaining({
        type: "CERTIFICATE_REFUSED",
        certificateId: event.certificateId,
        reason: expect.stringMatching(/^KEY_WEAK: /),
      }),
    ]);
  });

  it("holds the first connect of a waiting certificate, not every connect after it", async () => {
    const event = await world.connect({ deviceId: "early-2" });
    await provisionCertificate(world.deps, event);
    now = new Date(now.getTime() + 60_000);
    await provisionCertificate(world.deps, event);

    expect(eventsOf("early-2")).toEqual(["CERTIFICATE_WAITING"]);
    expect(world.store.events.find((e) => e.deviceId === "early-2")).toMatchObject({
      certificateId: event.certificateId,
      reason: "NOT_ON_ALLOWLIST: device id early-2",
    });
  });
});
