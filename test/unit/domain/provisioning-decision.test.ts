import { describe, expect, it } from "vitest";
import type { CertificateFacts } from "#domain/certificate.js";
import type { Device } from "#domain/device.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { decideProvisioning, type ProvisioningFacts } from "#domain/provisioning-decision.js";
import { refuse } from "#domain/refusal.js";

const CERT = "c".repeat(64) as CertificateId;
const OTHER_CERT = "d".repeat(64) as CertificateId;
const CA = "a".repeat(64) as CaCertificateId;
const OTHER_CA = "b".repeat(64) as CaCertificateId;
const DEVICE = "sensor-1" as DeviceId;
const NOW = new Date("2026-11-25T12:00:00.000Z");
const DAY = 86_400_000;

const facts: CertificateFacts = {
  subject: "CN=sensor-1",
  issuer: "CN=CA",
  serialNumber: "01",
  notBefore: new Date("2026-01-01"),
  notAfter: new Date("2027-01-01"),
  key: { type: "EC", curve: "P-256" },
  signatureHash: "SHA-256",
  isCa: false,
  extendedKeyUsages: undefined,
  certificateSha256: "1".repeat(64),
  publicKeySha256: "2".repeat(64),
};

const entry = (overrides: Partial<Device> = {}): Device => ({
  deviceId: DEVICE,
  state: "ALLOWED",
  batchId: "batch-1" as BatchId,
  caCertificateId: CA,
  attributes: {},
  pins: {},
  version: 1,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  ...overrides,
});

const bound = (certificateId: CertificateId) => ({
  certificateId,
  certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
  certificateSha256: "1",
  publicKeySha256: "2",
  notBefore: "2026",
  notAfter: "2027",
});

const decide = (overrides: Partial<ProvisioningFacts>) =>
  decideProvisioning({
    certificateId: CERT,
    certificateStatus: "PENDING_ACTIVATION",
    caCertificateId: CA,
    certificate: { ok: true, facts, deviceId: DEVICE },
    device: entry(),
    record: undefined,
    now: NOW,
    waitLimitMs: DAY,
    ...overrides,
  });

const refusalCode = (decision: ReturnType<typeof decide>) =>
  decision.kind === "refuse" ? decision.refusal.code : decision.kind;

const waitingSince = (firstSeenAt: string) => ({
  certificateId: CERT,
  outcome: "WAITING" as const,
  refusal: refuse("NOT_ON_ALLOWLIST"),
  caCertificateId: CA,
  firstSeenAt,
  lastSeenAt: firstSeenAt,
  attempts: 3,
});

describe("decideProvisioning", () => {
  it("provisions an ALLOWED entry of the certificate's CA", () => {
    expect(decide({}).kind).toBe("provision");
  });

  it("lets an identity that is not on the allowlist yet wait, saying why", () => {
    expect(decide({ device: undefined })).toEqual({
      kind: "wait",
      refusal: refuse("NOT_ON_ALLOWLIST", "device id sensor-1"),
      deviceId: DEVICE,
    });
  });

  it("lets a certificate from another CA than the batch's wait", () => {
    expect(decide({ caCertificateId: OTHER_CA })).toMatchObject({
      kind: "wait",
      refusal: { code: "CA_NOT_BATCH_CA" },
    });
  });

  it("does not take a CA's certificate for a device of a batch without a CA (born through fleet provisioning), saying so", () => {
    const { caCertificateId: _none, ...fleetOnly } = entry();
    expect(decide({ device: fleetOnly })).toMatchObject({
      kind: "wait",
      refusal: {
        code: "CA_NOT_BATCH_CA",
        detail: `issued by CA ${CA}, batch batch-1 has no CA: its devices are born through fleet provisioning`,
      },
    });
  });

  it("lets a certificate whose CA was deactivated wait", () => {
    const certificate = { ok: false as const, refusal: refuse("CA_NOT_ACTIVE") };
    expect(decide({ certificate })).toMatchObject({ kind: "wait", refusal: { code: "CA_NOT_ACTIVE" } });
  });

  it("keeps a waiting certificate waiting until the limit, then refuses it saying since when it waited", () => {
    const justUnder = new Date(NOW.getTime() - DAY + 1).toISOString();
    expect(decide({ device: undefined, record: waitingSince(justUnder) }).kind).toBe("wait");
    const atLimit = new Date(NOW.getTime() - DAY).toISOString();
    expect(decide({ device: undefined, record: waitingSince(atLimit) })).toMatchObject({
      kind: "refuse",
      refusal: { code: "NOT_ON_ALLOWLIST", detail: `device id sensor-1; waited since ${atLimit}` },
    });
  });

  it("provisions a waiting certificate once its entry exists", () => {
    expect(decide({ record: waitingSince(NOW.toISOString()) }).kind).toBe("provision");
  });

  it("refuses instead of waiting for a certificate fleetgate registered from a manifest: no second event comes", () => {
    expect(
      refusalCode(decide({ origin: "manifest", certificateStatus: "INACTIVE", device: undefined })),
    ).toBe("NOT_ON_ALLOWLIST");
  });

  it("refuses a second certificate for a claimed or active identity as a clone", () => {
    for (const state of ["PROVISIONING", "ACTIVE", "SUSPENDED"] as const) {
      expect(refusalCode(decide({ device: entry({ state, certificate: bound(OTHER_CERT) }) }))).toBe(
        "IDENTITY_ALREADY_CLAIMED",
      );
    }
  });

  it("refuses a revoked or decommissioned identity coming back with a new certificate", () => {
    for (const state of ["REVOKED", "DECOMMISSIONED"] as const) {
      expect(refusalCode(decide({ device: entry({ state, certificate: bound(OTHER_CERT) }) }))).toBe(
        "ALLOWLIST_ENTRY_NOT_ALLOWED",
      );
    }
  });

  it("checks the pinned certificate and key fingerprints", () => {
    expect(decide({ device: entry({ pins: { certificateSha256: facts.certificateSha256 } }) }).kind).toBe(
      "provision",
    );
    expect(decide({ device: entry({ pins: { publicKeySha256: facts.publicKeySha256 } }) }).kind).toBe(
      "provision",
    );
    expect(refusalCode(decide({ device: entry({ pins: { certificateSha256: "f".repeat(64) } }) }))).toBe(
      "PIN_MISMATCH",
    );
    expect(refusalCode(decide({ device: entry({ pins: { publicKeySha256: "f".repeat(64) } }) }))).toBe(
      "PIN_MISMATCH",
    );
  });

  it("passes a certificate-level refusal through", () => {
    const refusal = refuse("KEY_WEAK", "RSA 1024 bits");
    expect(decide({ certificate: { ok: false, refusal } })).toEqual({ kind: "refuse", refusal });
  });

  it("resumes its own unfinished claim, whether or not the certificate was already activated", () => {
    const device = entry({ state: "PROVISIONING", certificate: bound(CERT), version: 2 });
    expect(decide({ device }).kind).toBe("resume");
    expect(decide({ device, certificateStatus: "ACTIVE" }).kind).toBe("resume");
  });

  it("abandons its own claim when the certificate was revoked meanwhile", () => {
    const device = entry({ state: "PROVISIONING", certificate: bound(CERT) });
    expect(decide({ device, certificateStatus: "REVOKED" })).toMatchObject({
      kind: "abandon",
      refusal: { code: "PROVISIONING_FAILED" },
    });
  });

  it("does nothing more for an already active device or an already refused certificate", () => {
    expect(
      decide({ device: entry({ state: "ACTIVE", certificate: bound(CERT) }), certificateStatus: "ACTIVE" })
        .kind,
    ).toBe("already-active");
    const record = {
      certificateId: CERT,
      outcome: "REJECTED" as const,
      refusal: refuse("KEY_WEAK"),
      at: "t",
    };
    expect(decide({ record, certificateStatus: "REVOKED" }).kind).toBe("already-refused");
  });

  it("leaves alone a certificate that someone else activated or revoked", () => {
    expect(decide({ certificateStatus: "ACTIVE" }).kind).toBe("ignore");
    expect(decide({ certificateStatus: "REVOKED", device: undefined }).kind).toBe("ignore");
  });
});
