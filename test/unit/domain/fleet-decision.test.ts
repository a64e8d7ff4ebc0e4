import { describe, expect, it } from "vitest";
import type { CertificateFacts } from "#domain/certificate.js";
import type { ClaimBinding } from "#domain/claim.js";
import type { Device } from "#domain/device.js";
import { decideFleetProvisioning, type FleetFacts } from "#domain/fleet-decision.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { refuse } from "#domain/refusal.js";

const NEW = "c".repeat(64) as CertificateId;
const HOLDER = "d".repeat(64) as CertificateId;
const CLAIM = "e".repeat(64) as CertificateId;
const DEVICE = "sensor-1" as DeviceId;
const NOW = new Date("2026-11-25T12:00:00.000Z");

const facts: CertificateFacts = {
  subject: "CN=AWS IoT Certificate",
  issuer: "CN=Amazon",
  serialNumber: "01",
  notBefore: new Date("2026-01-01"),
  notAfter: new Date("2049-01-01"),
  key: { type: "RSA", bits: 2048 },
  signatureHash: "SHA-256",
  isCa: false,
  extendedKeyUsages: undefined,
  certificateSha256: "1".repeat(64),
  publicKeySha256: "2".repeat(64),
};

const entry = (overrides: Partial<Device> = {}): Device => ({
  deviceId: DEVICE,
  state: "ALLOWED",
  batchId: "lot-a" as BatchId,
  caCertificateId: "a".repeat(64) as CaCertificateId,
  attributes: {},
  pins: {},
  version: 1,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  ...overrides,
});

const reservedBy = (
  certificateId: CertificateId,
  reservedUntil: string,
  state: Device["state"] = "PROVISIONING",
) =>
  entry({
    state,
    certificate: {
      reservedUntil,
      certificateId,
      certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
      certificateSha256: "3",
      publicKeySha256: "4",
      notBefore: "2026",
      notAfter: "2049",
    },
  });

const claim = (overrides: Partial<ClaimBinding> = {}): ClaimBinding => ({
  claimCertificateId: CLAIM,
  certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${CLAIM}`,
  batchIds: ["lot-a" as BatchId],
  createdAt: "2026-01-01T00:00:00.000Z",
  createdBy: "factory-admin",
  ...overrides,
});

const decide = (overrides: Partial<FleetFacts>) =>
  decideFleetProvisioning({
    certificateId: NEW,
    deviceId: DEVICE,
    certificate: { ok: true, facts },
    claim: claim(),
    device: entry(),
    now: NOW,
    ...overrides,
  });

const outcome = (decision: ReturnType<typeof decide>) =>
  decision.kind === "deny" ? decision.refusal.code : decision.kind;

const EARLIER = "2026-11-25T11:00:00.000Z";
const LATER = "2026-11-25T13:00:00.000Z";

describe("decideFleetProvisioning", () => {
  it("reserves an ALLOWED entry of the claim's batch for the new certificate", () => {
    expect(decide({})).toMatchObject({ kind: "reserve", device: { deviceId: DEVICE }, facts });
  });

  it("denies a claim fleetgate did not issue, or one it revoked", () => {
    expect(outcome(decide({ claim: undefined }))).toBe("CLAIM_NOT_RECOGNISED");
    const revoked = claim({ revoked: { at: EARLIER, by: "ops", reason: "leaked" } });
    expect(decide({ claim: revoked })).toMatchObject({
      kind: "deny",
      refusal: { code: "CLAIM_NOT_RECOGNISED", detail: `claim revoked ${EARLIER}` },
    });
  });

  it("denies a device of another batch than the claim's, naming both", () => {
    const decision = decide({ device: entry({ batchId: "lot-b" as BatchId }) });
    expect(decision).toMatchObject({ kind: "deny", refusal: { code: "CLAIM_NOT_FOR_BATCH" } });
    expect(decision.kind === "deny" && decision.refusal.detail).toMatch(/lot-a.*lot-b/);
  });

  it("lets a claim bound to several batches provision a device of any of them", () => {
    const both = claim({ batchIds: ["lot-a" as BatchId, "lot-b" as BatchId] });
    expect(outcome(decide({ claim: both, device: entry({ batchId: "lot-b" as BatchId }) }))).toBe("reserve");
  });

  it("denies an identity no batch lists", () => {
    expect(decide({ device: undefined })).toMatchObject({
      kind: "deny",
      refusal: { code: "NOT_ON_ALLOWLIST", detail: `device id ${DEVICE}` },
    });
  });

  it("passes the new certificate's own refusal through (a weak key in the device's CSR)", () => {
    expect(
      outcome(decide({ certificate: { ok: false, refusal: refuse("KEY_WEAK", "RSA 1024 bits") } })),
    ).toBe("KEY_WEAK");
  });

  it("checks the manifest's pins on the new certificate's key", () => {
    expect(outcome(decide({ device: entry({ pins: { publicKeySha256: "2".repeat(64) } }) }))).toBe("reserve");
    expect(outcome(decide({ device: entry({ pins: { publicKeySha256: "9".repeat(64) } }) }))).toBe(
      "PIN_MISMATCH",
    );
  });

  it("denies a second device claiming an identity that is reserved or active: a clone", () => {
    expect(outcome(decide({ device: reservedBy(HOLDER, LATER) }))).toBe("IDENTITY_ALREADY_CLAIMED");
    const active = entry({ ...reservedBy(HOLDER, LATER), state: "ACTIVE" });
    expect(outcome(decide({ device: active }))).toBe("IDENTITY_ALREADY_CLAIMED");
  });

  it("denies a revoked or decommissioned identity", () => {
    expect(outcome(decide({ device: entry({ state: "REVOKED" }) }))).toBe("ALLOWLIST_ENTRY_NOT_ALLOWED");
    expect(outcome(decide({ device: entry({ state: "DECOMMISSIONED" }) }))).toBe(
      "ALLOWLIST_ENTRY_NOT_ALLOWED",
    );
  });

  it("allows again the certificate that holds the reservation (IoT Core retried), and nothing else about it", () => {
    expect(outcome(decide({ device: reservedBy(NEW, LATER) }))).toBe("allowed-before");
    expect(outcome(decide({ device: reservedBy(NEW, LATER, "SUSPENDED") }))).toBe(
      "ALLOWLIST_ENTRY_NOT_ALLOWED",
    );
  });

  describe("an expired reservation", () => {
    it("asks what became of the certificate that held it", () => {
      expect(decide({ device: reservedBy(HOLDER, EARLIER) })).toEqual({
        kind: "check-holder",
        holder: HOLDER,
      });
    });

    it("is given back when IoT Core never activated its certificate, and reserved for the new one", () => {
      for (const holderStatus of ["PENDING_ACTIVATION", "ABSENT", "REVOKED"] as const)
        expect(decide({ device: reservedBy(HOLDER, EARLIER), holderStatus })).toMatchObject({
          kind: "reserve",
          expired: { certificateId: HOLDER, holderStatus },
        });
    });

    it("still holds the identity when IoT Core activated its certificate: that device just has not connected", () => {
      expect(outcome(decide({ device: reservedBy(HOLDER, EARLIER), holderStatus: "ACTIVE" }))).toBe(
        "IDENTITY_ALREADY_CLAIMED",
      );
    });

    it("still checks the entry's pins for the new certificate", () => {
      const pinned = { ...reservedBy(HOLDER, EARLIER), pins: { publicKeySha256: "9".repeat(64) } };
      expect(outcome(decide({ device: pinned, holderStatus: "ABSENT" }))).toBe("PIN_MISMATCH");
    });
  });
});
