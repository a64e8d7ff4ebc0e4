import "reflect-metadata";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { type InspectedCertificate, inspectCertificate } from "#domain/certificate.js";
import {
  checkCertificateItself,
  checkDeviceCertificate,
  DEFAULT_CERTIFICATE_POLICY,
  readDeviceId,
} from "#domain/certificate-checks.js";
import { isSecurityRefusal, REFUSAL_REASONS, type RefusalCode } from "#domain/refusal.js";
import {
  type CaOptions,
  CLIENT_AUTH,
  createCa,
  type DeviceOptions,
  type Issuer,
  issueDeviceCertificate,
  SERVER_AUTH,
} from "#local/dev-pki.js";
import { der, reissue, subjectOf, TAG } from "#test/support/reissue.js";

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

describe("checkDeviceCertificate: the registered CA", () => {
  const underCa = async (options: CaOptions) => {
    const issuer = await createCa(options);
    const device = await issueDeviceCertificate(issuer);
    return checkDeviceCertificate(inspect(device.pem), inspect(issuer.pem), now, DEFAULT_CERTIFICATE_POLICY);
  };
  const { keyCertSign, cRLSign, digitalSignature } = x509.KeyUsageFlags;

  it.each([
    ["basic constraints CA:FALSE", { basicConstraints: { ca: false } }],
    ["no basic constraints", { basicConstraints: "absent" }],
    ["a key usage without keyCertSign", { keyUsages: digitalSignature | cRLSign }],
  ] as const)(
    "refuses devices under a registered CA certificate with %s: it is not a CA",
    async (_, options) => {
      expect((await underCa(options))?.code).toBe("CA_NOT_A_CA");
    },
  );

  it("accepts a CA certificate without a key usage extension, or with keyCertSign", async () => {
    expect(await underCa({ keyUsages: "absent" })).toBeUndefined();
    expect(await underCa({ keyUsages: keyCertSign })).toBeUndefined();
  });

  it("refuses devices under a CA certificate that has expired or is not valid yet, saying when", async () => {
    const expired = await underCa({
      notBefore: new Date(now.getTime() - 10 * 86_400_000),
      notAfter: new Date(now.getTime() - 1000),
    });
    expect(expired).toEqual({
      code: "CA_CERTIFICATE_EXPIRED",
      detail: expect.stringMatching(/expired \d{4}-/),
    });
    const early = await underCa({ notBefore: new Date(now.getTime() + 86_400_000) });
    expect(early?.code).toBe("CA_CERTIFICATE_NOT_YET_VALID");
  });
});

describe("checkDeviceCertificate: RFC 5280 rules the TLS handshake would enforce", () => {
  const UNKNOWN_OID = "1.3.6.1.4.1.55555.1";
  const unknown = (critical: boolean) => new x509.Extension(UNKNOWN_OID, critical, new Uint8Array([5, 0]));
  const changed = async (change: Parameters<typeof reissue>[2], options: DeviceOptions = {}) => {
    const device = await issueDeviceCertificate(ca, options);
    const pem = await reissue(device.pem, ca, change);
    return checkDeviceCertificate(inspect(pem), caCert, now, DEFAULT_CERTIFICATE_POLICY);
  };

  it("refuses a critical extension it does not process, naming it; a non-critical one is ignored", async () => {
    expect(await check({ extensions: [unknown(true)] })).toEqual({
      code: "CRITICAL_EXTENSION_UNKNOWN",
      detail: expect.stringContaining(UNKNOWN_OID),
    });
    expect(await check({ extensions: [unknown(false)] })).toBeUndefined();
  });

  it("refuses a key usage that does not allow digital signatures, which TLS client authentication needs", async () => {
    const { digitalSignature, keyAgreement, keyEncipherment } = x509.KeyUsageFlags;
    expect((await check({ keyUsages: keyEncipherment | keyAgreement }))?.code).toBe("KEY_USAGE_NOT_ALLOWED");
    expect(await check({ keyUsages: digitalSignature | keyAgreement })).toBeUndefined();
  });

  it("refuses an extension that appears twice: verifiers may read either copy", async () => {
    const twice = [new x509.BasicConstraintsExtension(false), new x509.BasicConstraintsExtension(true)];
    expect(await check({ extensions: twice })).toEqual({
      code: "EXTENSION_REPEATED",
      detail: expect.stringContaining("2.5.29.19"),
    });
  });

  it.each([
    ["zero", [0x00]],
    ["negative", [0xff, 0x01]],
  ])("refuses a %s serial number", async (_, serial) => {
    const refusal = await changed((certificate) => {
      certificate.tbsCertificate.serialNumber = new Uint8Array(serial).buffer;
    });
    expect(refusal?.code).toBe("SERIAL_NUMBER_INVALID");
  });

  it("refuses a certificate whose signed algorithm (tbsCertificate.signature) is not its signatureAlgorithm", async () => {
    const refusal = await changed((certificate) => {
      certificate.tbsCertificate.signature = new AlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.3" });
    });
    expect(refusal).toEqual({
      code: "SIGNATURE_ALGORITHM_MISMATCH",
      detail: expect.stringMatching(/1\.2\.840\.10045\.4\.3\.3.*1\.2\.840\.10045\.4\.3\.2/),
    });
  });

  it("still calls a forged certificate SIGNATURE_INVALID, whatever else is wrong with it", async () => {
    const impostor = await createCa({ name: "Fleetgate Test CA" });
    expect((await check({ extensions: [unknown(true)] }, impostor))?.code).toBe("SIGNATURE_INVALID");
  });
});

describe("checkCertificateItself", () => {
  // IoT Core issues fleet-provisioned certificates under Amazon's CA: no CA of ours to verify with.
  const itself = async (options: DeviceOptions) =>
    checkCertificateItself(
      inspect((await issueDeviceCertificate(ca, options)).pem),
      now,
      DEFAULT_CERTIFICATE_POLICY,
    );

  it("accepts a good certificate whatever signed it", async () => {
    const stranger = await createCa({ name: "Amazon-like CA" });
    expect(
      checkCertificateItself(
        inspect((await issueDeviceCertificate(stranger)).pem),
        now,
        DEFAULT_CERTIFICATE_POLICY,
      ),
    ).toBeUndefined();
  });

  it("refuses what the device chose badly in its CSR: a weak key, a weak hash, a CA, no client authentication", async () => {
    expect((await itself({ key: { type: "RSA", bits: 1024 } }))?.code).toBe("KEY_WEAK");
    expect((await itself({ hash: "SHA-1" }))?.code).toBe("SIGNATURE_HASH_WEAK");
    expect((await itself({ isCa: true }))?.code).toBe("CERTIFICATE_IS_CA");
    expect((await itself({ extendedKeyUsages: [SERVER_AUTH] }))?.code).toBe("CLIENT_AUTH_NOT_ALLOWED");
    expect(
      (
        await itself({
          notAfter: new Date(now.getTime() - 1000),
          notBefore: new Date(now.getTime() - 86_400_000),
        })
      )?.code,
    ).toBe("CERTIFICATE_EXPIRED");
  });
});

describe("isSecurityRefusal", () => {
  it("raises a forgery, a clone, a pin mismatch or a claim used for another batch; a CA's or a certificate profile's mistake is no attack", () => {
    const security = (Object.keys(REFUSAL_REASONS) as RefusalCode[]).filter(isSecurityRefusal);
    expect(security.sort()).toEqual([
      "CLAIM_NOT_FOR_BATCH",
      "IDENTITY_ALREADY_CLAIMED",
      "PIN_MISMATCH",
      "SIGNATURE_INVALID",
    ]);
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

  const encoded = async (oid: string, element: Uint8Array, field: "CN" | "serialNumber" = "CN") => {
    const device = await issueDeviceCertificate(ca);
    return readDeviceId(inspect(await reissue(device.pem, ca, subjectOf(oid, element))), field);
  };
  const CN = "2.5.4.3";
  const SERIAL_NUMBER = "2.5.4.5";
  const utf16be = (text: string) => new Uint8Array(Buffer.from(text, "utf16le").swap16());
  const utf32be = (text: string) =>
    new Uint8Array([...text].flatMap((c) => [0, 0, 0, c.codePointAt(0) ?? 0]));

  it.each([
    ["UTF8String", der(TAG.UTF8_STRING, "sensor-7")],
    ["PrintableString", der(TAG.PRINTABLE_STRING, "sensor-7")],
    ["IA5String", der(0x16, "sensor-7")],
    ["TeletexString", der(0x14, "sensor-7")],
    ["BMPString", der(0x1e, utf16be("sensor-7"))],
    ["UniversalString", der(0x1c, utf32be("sensor-7"))],
    ["VisibleString", der(TAG.VISIBLE_STRING, "sensor-7")],
  ])("reads a device id encoded as a %s as its text", async (_, element) => {
    expect(await encoded(CN, element)).toEqual({ ok: true, deviceId: "sensor-7" });
  });

  it("reads a NumericString serial number as its digits", async () => {
    expect(await encoded(SERIAL_NUMBER, der(TAG.NUMERIC_STRING, "0042"), "serialNumber")).toEqual({
      ok: true,
      deviceId: "0042",
    });
  });

  it.each([
    ["a CN as an OCTET STRING", CN, der(TAG.OCTET_STRING, "sensor-7"), "CN", "OCTET STRING"],
    [
      "a serialNumber as an INTEGER",
      SERIAL_NUMBER,
      der(TAG.INTEGER, new Uint8Array([0x42])),
      "serialNumber",
      "INTEGER",
    ],
  ] as const)("refuses %s: only string types name a device", async (_, oid, element, field, type) => {
    expect(await encoded(oid, element, field)).toEqual({
      ok: false,
      refusal: { code: "DEVICE_ID_INVALID", detail: `${field} is an ${type}, not a string` },
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
