import { describe, expect, it } from "vitest";
import { type InspectedCertificate, inspectCertificate } from "#domain/certificate.js";
import {
  checkDeviceCertificate,
  DEFAULT_CERTIFICATE_POLICY,
  readDeviceId,
} from "#domain/certificate-checks.js";
import {
  CLIENT_AUTH,
  createCa,
  type DeviceOptions,
  type Issuer,
  issueDeviceCertificate,
  SERVER_AUTH,
} from "#local/dev-pki.js";

const inspect = (pem: string): InspectedCertificate => {
  const result = inspectCertificate(pem);
  if (!result.ok) throw new Error(result.error);
  return result.certificate;
};

const ca = await createCa();
const caCert = inspect(ca.pem);
const now = new Date();

const check = async (options: DeviceOptions, issuer: Issuer = ca) => {
  const device = await issueDeviceCertificate(issuer, options);
  return checkDeviceCertificate(inspect(device.pem), caCert, now, DEFAULT_CERTIFICATE_POLICY);
};

describe("checkDeviceCertificate", () => {
  it("accepts EC P-256, P-384, P-521 and RSA 2048 certificates signed by the CA", async () => {
    expect(await check({ key: { type: "EC", curve: "P-256" } })).toBeUndefined();
    expect(await check({ key: { type: "EC", curve: "P-384" }, hash: "SHA-384" })).toBeUndefined();
    expect(await check({ key: { type: "EC", curve: "P-521" }, hash: "SHA-512" })).toBeUndefined();
    expect(
      await check({ key: { type: "RSA", bits: 2048 }, extendedKeyUsages: [CLIENT_AUTH] }),
    ).toBeUndefined();
  });

  it("refuses a certificate signed by another CA with the same name", async () => {
    const impostor = await createCa({ name: "Fleetgate Test CA" });
    expect((await check({}, impostor))?.code).toBe("SIGNATURE_INVALID");
  });

  it("refuses a certificate whose validity has not started, beyond the allowed skew", async () => {
    const soon = new Date(now.getTime() + 2 * 60_000);
    expect(await check({ notBefore: soon })).toBeUndefined();
    const later = new Date(now.getTime() + 60 * 60_000);
    expect((await check({ notBefore: later }))?.code).toBe("CERTIFICATE_NOT_YET_VALID");
  });

  it("refuses an expired certificate and says when it expired", async () => {
    const refusal = await check({
      notBefore: new Date(now.getTime() - 10 * 86_400_000),
      notAfter: new Date(now.getTime() - 1000),
    });
    expect(refusal?.code).toBe("CERTIFICATE_EXPIRED");
    expect(refusal?.detail).toMatch(/^expired \d{4}-/);
  });

  it("refuses RSA keys below 2048 bits", async () => {
    expect(await check({ key: { type: "RSA", bits: 1024 } })).toEqual({
      code: "KEY_WEAK",
      detail: "RSA 1024 bits",
    });
  });

  it("refuses key types IoT Core does not accept", async () => {
    expect((await check({ key: { type: "Ed25519" } }))?.code).toBe("KEY_ALGORITHM_UNSUPPORTED");
  });

  it("refuses a certificate signed with SHA-1", async () => {
    const rsaCa = await createCa({ key: { type: "RSA", bits: 2048 } });
    const device = await issueDeviceCertificate(rsaCa, { key: { type: "RSA", bits: 2048 }, hash: "SHA-1" });
    const refusal = await checkDeviceCertificate(
      inspect(device.pem),
      inspect(rsaCa.pem),
      now,
      DEFAULT_CERTIFICATE_POLICY,
    );
    expect(refusal).toEqual({ code: "SIGNATURE_HASH_WEAK", detail: "signed with SHA-1" });
  });

  it("refuses a CA certificate presented as a device certificate", async () => {
    expect((await check({ isCa: true }))?.code).toBe("CERTIFICATE_IS_CA");
  });

  it("refuses an extended key usage without client authentication", async () => {
    expect((await check({ extendedKeyUsages: [SERVER_AUTH] }))?.code).toBe("CLIENT_AUTH_NOT_ALLOWED");
  });
});

describe("readDeviceId", () => {
  const read = async (subject: string, field: "CN" | "serialNumber" = "CN") =>
    readDeviceId(inspect((await issueDeviceCertificate(ca, { subject })).pem), field);

  it("reads the configured subject field", async () => {
    expect(await read("CN=sensor-42, O=Acme")).toEqual({ ok: true, deviceId: "sensor-42" });
    expect(await read("CN=ignored, 2.5.4.5=SN:0042", "serialNumber")).toEqual({
      ok: true,
      deviceId: "SN:0042",
    });
  });

  it.each([
    ["O=Acme", "DEVICE_ID_MISSING"],
    ["CN=a, CN=b", "DEVICE_ID_AMBIGUOUS"],
    ["CN=sensor/+/#", "DEVICE_ID_INVALID"],
    ["CN=sensor*", "DEVICE_ID_INVALID"],
    ["CN=dev ice", "DEVICE_ID_INVALID"],
    [`CN=${"x".repeat(129)}`, "DEVICE_ID_INVALID"],
  ])("refuses the subject %s as %s", async (subject, code) => {
    const result = await read(subject);
    expect(result.ok ? undefined : result.refusal.code).toBe(code);
  });
});

describe("inspectCertificate", () => {
  it("reports garbage, truncated and oversized input as values, not exceptions", async () => {
    const device = await issueDeviceCertificate(ca);
    const truncated = `${device.pem.slice(0, 120)}\n-----END CERTIFICATE-----`;
    expect(inspectCertificate("not a certificate").ok).toBe(false);
    expect(inspectCertificate(truncated).ok).toBe(false);
    expect(inspectCertificate(device.pem + device.pem).ok).toBe(false);
    expect(
      inspectCertificate(`-----BEGIN CERTIFICATE-----\n${"A".repeat(20_000)}\n-----END CERTIFICATE-----`),
    ).toEqual({
      ok: false,
      error: expect.stringMatching(/limit/),
    });
  });

  it("fingerprints the certificate and its public key", async () => {
    const device = await issueDeviceCertificate(ca);
    const facts = inspect(device.pem).facts;
    const der = Buffer.from(device.certificate.rawData);
    const { createHash } = await import("node:crypto");
    expect(facts.certificateSha256).toBe(createHash("sha256").update(der).digest("hex"));
    expect(facts.publicKeySha256).toMatch(/^[0-9a-f]{64}$/);
    expect(facts.publicKeySha256).not.toBe(facts.certificateSha256);
  });
});
