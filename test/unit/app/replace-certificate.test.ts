import { beforeEach, describe, expect, it } from "vitest";
import { type ApprovalDeps, expectCertificate, expireApprovals } from "#app/approve-replacement.js";
import { provisionCertificate } from "#app/provision-certificate.js";
import { IllegalTransitionError, ThrottledError, ValidationError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { createProvisioningWorld, type ProvisioningWorld } from "#test/support/provisioning-world.js";

let world: ProvisioningWorld;
let now: Date;
let approvals: ApprovalDeps;
const DAY = 86_400_000;
const OPERATOR = "arn:aws:iam::123456789012:user/operator";
const DEVICE = "sensor-1" as DeviceId;

beforeEach(async () => {
  now = new Date("2026-11-25T12:00:00Z");
  world = await createProvisioningWorld(() => now);
  approvals = {
    store: world.store,
    clock: { now: () => now },
    approvalLimits: { defaultMs: 7 * DAY, maxMs: 30 * DAY },
  };
});

const eventsOf = (deviceId: string) =>
  world.store.events.filter((e) => e.deviceId === deviceId).map((e) => e.type);

/** A device provisioned with its first certificate, as JITR leaves it. */
const provisioned = async () => {
  world.allow(DEVICE);
  const first = await world.connect({ deviceId: DEVICE });
  await provisionCertificate(world.deps, first);
  return first;
};

const approve = (certificateId: CertificateId, expiresIn?: string) =>
  expectCertificate(approvals, {
    deviceId: DEVICE,
    certificateSha256: certificateId,
    actor: OPERATOR,
    reason: "secure element replaced",
    ...(expiresIn ? { expiresIn } : {}),
  });

describe("an approved replacement certificate's first connection", () => {
  it("provisions it and retires the certificate it replaces: revoked, detached, queued for deletion, with history", async () => {
    const first = await provisioned();
    const second = await world.connect({ deviceId: DEVICE });
    await approve(second.certificateId);

    const outcome = await provisionCertificate(world.deps, second);

    expect(outcome).toEqual({
      kind: "provisioned",
      certificateId: second.certificateId,
      deviceId: DEVICE,
      resumed: false,
      replaced: first.certificateId,
    });
    expect(world.registry.certificates.get(second.certificateId)?.status).toBe("ACTIVE");
    expect(world.registry.certificates.get(first.certificateId)?.status).toBe("REVOKED");
    expect(world.registry.thingAttachments).toEqual(
      new Set([`${DEVICE}|${FakeRegistry.arn(second.certificateId)}`]),
    );
    expect(world.store.devices.get(DEVICE)).toMatchObject({
      state: "ACTIVE",
      certificate: { certificateId: second.certificateId },
    });
    expect(world.store.approvals.has(DEVICE)).toBe(false);
    expect(world.store.retirements.get(first.certificateId)).toMatchObject({
      why: "REPLACED",
      since: now.toISOString(),
      deviceId: DEVICE,
      queued: true,
    });
    expect(eventsOf(DEVICE)).toEqual([
      "PROVISIONING_STARTED",
      "ACTIVATED",
      "REPLACEMENT_APPROVED",
      "CERTIFICATE_REPLACED",
    ]);
    const replaced = world.store.events.find((e) => e.type === "CERTIFICATE_REPLACED");
    expect(replaced).toMatchObject({ actor: "jitr", certificateId: second.certificateId });
    expect(replaced?.reason).toBe(
      `replaces certificate ${first.certificateId} (now revoked), as approved by ${OPERATOR} at 2026-11-25T12:00:00.000Z: secure element replaced`,
    );
  });

  it("costs the IoT calls of a first provisioning less the Thing's: describe, attach, activate, revoke, detach", async () => {
    await provisioned();
    const second = await world.connect({ deviceId: DEVICE });
    await approve(second.certificateId);
    world.registry.calls.length = 0;

    await provisionCertificate(world.deps, second);

    expect(world.registry.calls).toEqual([
      "describeCertificate",
      "attachThingPrincipal",
      "updateCertificateStatus",
      "updateCertificateStatus",
      "detachThingPrincipal",
    ]);
  });

  it("interrupted after any IoT step, is finished by the redelivery, with one replacement in the history", async () => {
    const first = await provisioned();
    const second = await world.connect({ deviceId: DEVICE });
    await approve(second.certificateId);
    world.registry.failNext("detachThingPrincipal", new ThrottledError("slow down"));

    await expect(provisionCertificate(world.deps, second)).rejects.toThrow(ThrottledError);
    // The new certificate is ACTIVE already, the old one revoked; the approval is still there.
    expect(world.registry.certificates.get(second.certificateId)?.status).toBe("ACTIVE");
    expect(world.store.approvals.has(DEVICE)).toBe(true);

    const outcome = await provisionCertificate(world.deps, second);

    expect(outcome).toMatchObject({ kind: "provisioned", resumed: true, replaced: first.certificateId });
    expect(world.store.devices.get(DEVICE)?.certificate?.certificateId).toBe(second.certificateId);
    expect(eventsOf(DEVICE).filter((type) => type === "CERTIFICATE_REPLACED")).toHaveLength(1);
    expect(await provisionCertificate(world.deps, second)).toMatchObject({ kind: "unchanged" });
  });
});

describe("a new certificate that is not the approved one", () => {
  it("is refused as a clone and revoked, and the approval stays for the approved certificate", async () => {
    const first = await provisioned();
    const approved = await world.connect({ deviceId: DEVICE });
    await approve(approved.certificateId);
    const clone = await world.connect({ deviceId: DEVICE });

    const outcome = await provisionCertificate(world.deps, clone);

    expect(outcome).toMatchObject({
      kind: "refused",
      refusal: { code: "IDENTITY_ALREADY_CLAIMED" },
      security: true,
    });
    expect(world.registry.certificates.get(clone.certificateId)?.status).toBe("REVOKED");
    expect(world.registry.certificates.get(first.certificateId)?.status).toBe("ACTIVE");
    expect(world.store.approvals.get(DEVICE)?.certificateSha256).toBe(approved.certificateId);
  });

  it("the approved one, once its approval expired, is a clone too", async () => {
    const first = await provisioned();
    const approved = await world.connect({ deviceId: DEVICE });
    await approve(approved.certificateId, "12h");
    now = new Date(now.getTime() + 13 * 3_600_000);

    const outcome = await provisionCertificate(world.deps, approved);

    expect(outcome).toMatchObject({ kind: "refused", refusal: { code: "IDENTITY_ALREADY_CLAIMED" } });
    expect(world.registry.certificates.get(first.certificateId)?.status).toBe("ACTIVE");
    expect(world.store.devices.get(DEVICE)?.certificate?.certificateId).toBe(first.certificateId);
  });
});

describe("approving a replacement (fleetgate device expect-cert)", () => {
  it("records who approved which certificate until when, in the device's history", async () => {
    const first = await provisioned();
    const fingerprint = "ab".repeat(32) as CertificateId;

    const approval = await approve(fingerprint, "30d");

    expect(approval).toEqual({
      deviceId: DEVICE,
      certificateSha256: fingerprint,
      replaces: first.certificateId,
      approvedBy: OPERATOR,
      approvedAt: "2026-11-25T12:00:00.000Z",
      expiresAt: "2026-12-25T12:00:00.000Z",
      reason: "secure element replaced",
    });
    expect(world.store.events.at(-1)).toMatchObject({
      type: "REPLACEMENT_APPROVED",
      actor: OPERATOR,
      certificateId: fingerprint,
      reason: `secure element replaced: certificate ${fingerprint} may replace ${first.certificateId} until 2026-12-25T12:00:00.000Z (30d)`,
    });
  });

  it("lasts the configured default when no expiry is given, and never longer than the maximum", async () => {
    await provisioned();
    expect((await approve("ab".repeat(32) as CertificateId)).expiresAt).toBe("2026-12-02T12:00:00.000Z");
    await expect(approve("cd".repeat(32) as CertificateId, "31d")).rejects.toThrow(ValidationError);
  });

  it("is refused for a device that is not ACTIVE, and for an unknown one", async () => {
    world.allow(DEVICE);
    await expect(approve("ab".repeat(32) as CertificateId)).rejects.toThrow(IllegalTransitionError);
    await expect(
      expectCertificate(approvals, {
        deviceId: "nobody" as DeviceId,
        certificateSha256: "ab".repeat(32) as CertificateId,
        actor: OPERATOR,
      }),
    ).rejects.toThrow(/does not exist/);
  });
});

describe("expired approvals", () => {
  it("are recorded as expired in the history and cleared; live ones stay", async () => {
    await provisioned();
    await approve("ab".repeat(32) as CertificateId, "1d");
    now = new Date(now.getTime() + 2 * DAY);

    const expired = await expireApprovals(
      { store: world.store, clock: { now: () => now } },
      {
        limit: 100,
        actor: "retirement",
      },
    );

    expect(expired.map((approval) => approval.certificateSha256)).toEqual(["ab".repeat(32)]);
    expect(world.store.approvals.size).toBe(0);
    expect(world.store.events.at(-1)).toMatchObject({
      type: "REPLACEMENT_EXPIRED",
      actor: "retirement",
      reason: `the approval by ${OPERATOR} at 2026-11-25T12:00:00.000Z expired at 2026-11-26T12:00:00.000Z unused`,
    });
    expect(
      await expireApprovals({ store: world.store, clock: { now: () => now } }, { limit: 100, actor: "x" }),
    ).toEqual([]);
  });
});
