import { beforeEach, describe, expect, it } from "vitest";
import { jitpRegistration } from "#app/jitp-registration.js";
import { provisionCertificate } from "#app/provision-certificate.js";
import { provisionJitpThing } from "#app/provision-jitp-thing.js";
import { ConfigurationError, DependencyUnavailableError, NotReadyError } from "#domain/errors.js";
import type { CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import {
  createProvisioningWorld,
  type ProvisioningWorld,
  THING_GROUP,
} from "#test/support/provisioning-world.js";

let world: ProvisioningWorld;
/** The JITR function's provisioning: with JITP's steps. */
const deps = () => ({ ...world.deps, jitp: jitpRegistration(world.registry) });

beforeEach(async () => {
  world = await createProvisioningWorld();
  // The CA names fleetgate's JITP template: IoT Core provisions its devices from it.
  const ca = world.registry.cas.get(world.caCertificateId);
  if (ca) world.registry.cas.set(world.caCertificateId, { ...ca, jitpTemplate: "fleetgate-test-jitp" });
});

/** A first connect under the JITP CA once IoT Core applied the template: Thing made, certificate INACTIVE and attached. */
const jitpConnect = async (deviceId: string, issuer = world.ca) => {
  const registered = await world.connect({ deviceId }, issuer);
  world.registry.setStatus(registered.certificateId, "INACTIVE");
  if (!world.registry.things.has(deviceId)) world.registry.things.set(deviceId, { provisionedBy: "jitp" });
  world.registry.thingAttachments.add(`${deviceId}|${FakeRegistry.arn(registered.certificateId)}`);
  return registered;
};

const history = async (deviceId: string) =>
  (await world.store.listEvents(deviceId as DeviceId)).map((e) => [e.type, e.actor]);

describe("a JITP device on the allowlist", () => {
  it("is provisioned: its Thing takes the entry's attributes and joins the devices' group, its certificate becomes ACTIVE", async () => {
    world.allow("jitp-1");
    const { certificateId, caCertificateId } = await jitpConnect("jitp-1");

    const outcome = await provisionCertificate(deps(), { certificateId, caCertificateId });

    expect(outcome).toMatchObject({ kind: "provisioned", deviceId: "jitp-1" });
    expect(world.registry.certificates.get(certificateId)?.status).toBe("ACTIVE");
    expect(world.registry.things.get("jitp-1")).toMatchObject({ provisionedBy: "jitp", batch: "batch-1" });
    expect(world.registry.groups.get("jitp-1")).toEqual(new Set([THING_GROUP]));
    // The template attached it; fleetgate attaches nothing more.
    expect(world.registry.calls).not.toContain("attachThingPrincipal");
    expect(await history("jitp-1")).toEqual([
      ["PROVISIONING_STARTED", "jitp"],
      ["ACTIVATED", "jitp"],
    ]);
  });

  it("is decided only once JITP applied the template: a certificate still PENDING_ACTIVATION is retried, nothing changed", async () => {
    world.allow("jitp-early");
    const { certificateId, caCertificateId } = await world.connect({ deviceId: "jitp-early" });

    await expect(provisionCertificate(deps(), { certificateId, caCertificateId })).rejects.toBeInstanceOf(
      NotReadyError,
    );
    expect(world.registry.certificates.get(certificateId)?.status).toBe("PENDING_ACTIVATION");
    expect(world.store.devices.get("jitp-early")?.state).toBe("ALLOWED");
  });

  it("is provisioned from the registry's Thing-created event alone, the CA read from IoT Core's record", async () => {
    world.allow("jitp-thing");
    const { certificateId } = await jitpConnect("jitp-thing");
    const things = {
      thingCertificates: async (name: DeviceId) =>
        name === "jitp-thing" ? [certificateId] : (undefined as CertificateId[] | undefined),
    };

    const outcomes = await provisionJitpThing({ ...deps(), things }, "jitp-thing" as DeviceId);

    expect(outcomes).toMatchObject([{ kind: "provisioned", deviceId: "jitp-thing" }]);
    // The registered event coming after changes nothing.
    expect(
      await provisionCertificate(deps(), { certificateId, caCertificateId: world.caCertificateId }),
    ).toMatchObject({ kind: "unchanged" });
  });
});

describe("a JITP device fleetgate will not provision", () => {
  it("not on the allowlist yet: waits, its registration undone (Thing and certificate deleted, nothing revoked) so its next connect registers it again", async () => {
    const { certificateId, caCertificateId } = await jitpConnect("jitp-unlisted");

    const outcome = await provisionCertificate(deps(), { certificateId, caCertificateId });

    expect(outcome).toMatchObject({ kind: "waiting", refusal: { code: "NOT_ON_ALLOWLIST" } });
    expect(world.registry.certificates.has(certificateId)).toBe(false);
    expect(world.registry.things.has("jitp-unlisted")).toBe(false);
    expect(world.registry.calls).not.toContain("updateCertificateStatus");
    expect(await history("jitp-unlisted")).toEqual([["CERTIFICATE_WAITING", "jitp"]]);
  });

  it("a clone of a provisioned device: revoked and detached from the genuine device's Thing, which keeps its own certificate", async () => {
    world.allow("jitp-real");
    const genuine = await jitpConnect("jitp-real");
    await provisionCertificate(deps(), genuine);
    const clone = await jitpConnect("jitp-real");

    const outcome = await provisionCertificate(deps(), clone);

    expect(outcome).toMatchObject({
      kind: "refused",
      refusal: { code: "IDENTITY_ALREADY_CLAIMED" },
      security: true,
    });
    expect(world.registry.certificates.get(clone.certificateId)?.status).toBe("REVOKED");
    expect(world.registry.thingAttachments.has(`jitp-real|${FakeRegistry.arn(clone.certificateId)}`)).toBe(
      false,
    );
    expect(world.registry.thingAttachments.has(`jitp-real|${FakeRegistry.arn(genuine.certificateId)}`)).toBe(
      true,
    );
    expect(world.registry.things.has("jitp-real")).toBe(true);
    expect(world.registry.certificates.get(genuine.certificateId)?.status).toBe("ACTIVE");
  });

  it("reaching a provisioning not wired for JITP (a configuration error) changes nothing: no revocation, no deletion", async () => {
    const { certificateId, caCertificateId } = await jitpConnect("jitp-miswired");

    await expect(provisionCertificate(world.deps, { certificateId, caCertificateId })).rejects.toBeInstanceOf(
      ConfigurationError,
    );
    expect(world.registry.certificates.get(certificateId)?.status).toBe("INACTIVE");
    expect(world.registry.things.has("jitp-miswired")).toBe(true);
  });

  it("a certificate of a CA that is not the batch's waits without deleting the listed device's Thing", async () => {
    const otherCaId = "ab".repeat(32) as CaCertificateId;
    world.allow("jitp-other-line", { caCertificateId: otherCaId });
    const { certificateId, caCertificateId } = await jitpConnect("jitp-other-line");

    const outcome = await provisionCertificate(deps(), { certificateId, caCertificateId });

    expect(outcome).toMatchObject({ kind: "waiting", refusal: { code: "CA_NOT_BATCH_CA" } });
    expect(world.registry.things.has("jitp-other-line")).toBe(true);
    expect(world.registry.certificates.has(certificateId)).toBe(false);
  });
});

describe("a JITP device provisioned by two events at once", () => {
  it("the second finds the first's claim with the certificate still INACTIVE and resumes it: nothing is revoked", async () => {
    world.allow("jitp-twice");
    const registered = await jitpConnect("jitp-twice");
    // The first event claimed the entry and crashed before activating (or is still at it).
    world.registry.failNext(
      "updateCertificateStatus",
      new DependencyUnavailableError("IoT Core unavailable"),
    );
    await expect(provisionCertificate(deps(), registered)).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(world.store.devices.get("jitp-twice")?.state).toBe("PROVISIONING");

    const outcome = await provisionCertificate(deps(), registered);

    expect(outcome).toMatchObject({ kind: "provisioned", resumed: true });
    expect(world.registry.certificates.get(registered.certificateId)?.status).toBe("ACTIVE");
  });
});
