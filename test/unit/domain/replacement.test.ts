import { describe, expect, it } from "vitest";
import type { CertificateFacts } from "#domain/certificate.js";
import type { Device } from "#domain/device.js";
import { IllegalTransitionError, ValidationError } from "#domain/errors.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { decideProvisioning, type ProvisioningFacts } from "#domain/provisioning-decision.js";
import { approveReplacement, parseApprovalLifetime, type ReplacementApproval } from "#domain/replacement.js";

const HELD = "e".repeat(64) as CertificateId;
const NEW = "1".repeat(64) as CertificateId;
const CA = "a".repeat(64) as CaCertificateId;
const DEVICE = "sensor-1" as DeviceId;
const NOW = new Date("2026-11-25T12:00:00.000Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const facts = (certificateSha256: string): CertificateFacts => ({
  subject: "CN=sensor-1",
  issuer: "CN=CA",
  serialNumber: "01",
  notBefore: new Date("2026-01-01"),
  notAfter: new Date("2027-01-01"),
  key: { type: "EC", curve: "P-256" },
  signatureHash: "SHA-256",
  isCa: false,
  extendedKeyUsages: undefined,
  certificateSha256,
  publicKeySha256: "2".repeat(64),
});

const active = (overrides: Partial<Device> = {}): Device => ({
  deviceId: DEVICE,
  state: "ACTIVE",
  batchId: "batch-1" as BatchId,
  caCertificateId: CA,
  attributes: {},
  pins: { certificateSha256: HELD },
  certificate: {
    certificateId: HELD,
    certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${HELD}`,
    certificateSha256: HELD,
    publicKeySha256: "3".repeat(64),
    notBefore: "2026-01-01T00:00:00.000Z",
    notAfter: "2027-01-01T00:00:00.000Z",
  },
  version: 3,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  ...overrides,
});

const approval = (overrides: Partial<ReplacementApproval> = {}): ReplacementApproval => ({
  deviceId: DEVICE,
  certificateSha256: NEW,
  replaces: HELD,
  approvedBy: "arn:aws:iam::123456789012:user/operator",
  approvedAt: "2026-11-24T12:00:00.000Z",
  expiresAt: "2026-12-01T12:00:00.000Z",
  ...overrides,
});

const input = (overrides: Partial<ProvisioningFacts> = {}, sha256: string = NEW): ProvisioningFacts => ({
  certificateId: sha256 as CertificateId,
  certificateStatus: "PENDING_ACTIVATION",
  caCertificateId: CA,
  certificate: { ok: true, facts: facts(sha256), deviceId: DEVICE },
  device: active(),
  record: undefined,
  approval: approval(),
  now: NOW,
  waitLimitMs: 30 * DAY,
  ...overrides,
});

describe("a certificate for an identity that another certificate holds", () => {
  it("is the replacement when an operator approved exactly it, ahead of time, for the certificate held now", () => {
    expect(decideProvisioning(input())).toMatchObject({ kind: "replace", approval: approval() });
  });

  it("is still a clone when it is any other certificate, whatever is approved", () => {
    const other = "9".repeat(64);
    expect(decideProvisioning(input({}, other))).toMatchObject({
      kind: "refuse",
      refusal: { code: "IDENTITY_ALREADY_CLAIMED" },
    });
  });

  it("is a clone once the approval expired, and the refusal says whose approval expired when", () => {
    const decision = decideProvisioning(input({ now: new Date("2026-12-01T12:00:00.000Z") }));
    expect(decision).toMatchObject({ kind: "refuse", refusal: { code: "IDENTITY_ALREADY_CLAIMED" } });
    expect(decision.kind === "refuse" && decision.refusal.detail).toMatch(
      /approval of this certificate by arn:aws:iam::123456789012:user\/operator expired at 2026-12-01T12:00:00.000Z/,
    );
  });

  it("is a clone when the device changed certificate since the approval (it named the one it replaces)", () => {
    expect(
      decideProvisioning(input({ approval: approval({ replaces: "f".repeat(64) as CertificateId }) })),
    ).toMatchObject({ kind: "refuse", refusal: { code: "IDENTITY_ALREADY_CLAIMED" } });
  });

  it("is a clone when the device is not ACTIVE (suspended): an approval gives no way around a suspension", () => {
    expect(decideProvisioning(input({ device: active({ state: "SUSPENDED" }) }))).toMatchObject({
      kind: "refuse",
      refusal: { code: "IDENTITY_ALREADY_CLAIMED" },
    });
  });

  it("waits, as any certificate does, when another CA than the batch's issued it", () => {
    expect(decideProvisioning(input({ caCertificateId: "b".repeat(64) as CaCertificateId }))).toMatchObject({
      kind: "wait",
      refusal: { code: "CA_NOT_BATCH_CA" },
    });
  });

  it("is finished when found ACTIVE before the swap was recorded (a crash after activating it)", () => {
    expect(decideProvisioning(input({ certificateStatus: "ACTIVE" }))).toMatchObject({ kind: "replace" });
  });

  it.each(["manifest", "jitp"] as const)(
    "registered INACTIVE (%s: pre-registered, or by fleetgate's JITP template), it is the replacement",
    (origin) => {
      expect(decideProvisioning(input({ origin, certificateStatus: "INACTIVE" }))).toMatchObject({
        kind: "replace",
      });
    },
  );
});

describe("approving a replacement", () => {
  const request = { certificateSha256: NEW, approvedBy: "operator", lifetimeMs: 7 * DAY };

  it("names the certificate held now and expires after its lifetime", () => {
    expect(approveReplacement(active(), request, NOW)).toEqual({
      deviceId: DEVICE,
      certificateSha256: NEW,
      replaces: HELD,
      approvedBy: "operator",
      approvedAt: "2026-11-25T12:00:00.000Z",
      expiresAt: "2026-12-02T12:00:00.000Z",
    });
  });

  it.each(["ALLOWED", "PROVISIONING", "SUSPENDED", "REVOKED", "DECOMMISSIONED"] as const)(
    "is refused for a device that is %s",
    (state) => {
      expect(() => approveReplacement(active({ state }), request, NOW)).toThrow(IllegalTransitionError);
    },
  );

  it("is refused for the certificate the device holds already", () => {
    expect(() => approveReplacement(active(), { ...request, certificateSha256: HELD }, NOW)).toThrow(
      /holds already/,
    );
  });
});

describe("an approval's lifetime", () => {
  const limits = { defaultMs: 7 * DAY, maxMs: 30 * DAY };

  it.each([
    ["12h", 12 * HOUR],
    ["1d", DAY],
    ["30d", 30 * DAY],
  ])("%s is %i ms", (text, ms) => {
    expect(parseApprovalLifetime(text, limits)).toBe(ms);
  });

  it.each(["31d", "721h"])("%s is longer than allowed: bad input naming the maximum", (text) => {
    expect(() => parseApprovalLifetime(text, limits)).toThrow(ValidationError);
    try {
      parseApprovalLifetime(text, limits);
    } catch (error) {
      expect((error as ValidationError).issues[0]).toMatch(/longer than the 30d/);
    }
  });

  it.each(["", "0d", "30", "d", "1w", "-1d", "1.5d", " 2d"])("%j is not a lifetime", (text) => {
    expect(() => parseApprovalLifetime(text, limits)).toThrow(ValidationError);
  });
});
