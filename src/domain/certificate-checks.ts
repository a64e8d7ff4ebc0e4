import type { CertificateFacts, InspectedCertificate, SubjectField } from "./certificate.js";
import { isIssuedBy, subjectValues } from "./certificate.js";
import { type DeviceId, isDeviceId } from "./ids.js";
import { type Refusal, refuse } from "./refusal.js";

export interface CertificatePolicy {
  /** How far a device clock may run ahead of ours before a fresh certificate looks "not yet valid". */
  readonly clockSkewMs: number;
  readonly deviceIdField: SubjectField;
}

export const DEFAULT_CERTIFICATE_POLICY: CertificatePolicy = { clockSkewMs: 5 * 60_000, deviceIdField: "CN" };

const ACCEPTED_CURVES = new Set(["P-256", "P-384", "P-521"]);
const ACCEPTED_HASHES = new Set(["SHA-256", "SHA-384", "SHA-512"]);
const MIN_RSA_BITS = 2048;
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";

/**
 * The checks on a device certificate that need nothing but the certificate, its CA and the time:
 * the first failure is returned, in a fixed order, so the same certificate always gets the same reason.
 */
export const checkDeviceCertificate = async (
  device: InspectedCertificate,
  ca: InspectedCertificate,
  now: Date,
  policy: CertificatePolicy,
): Promise<Refusal | undefined> => {
  if (!(await isIssuedBy(device, ca))) {
    return refuse(
      "SIGNATURE_INVALID",
      `issuer "${device.facts.issuer}" is not verified by CA "${ca.facts.subject}"`,
    );
  }
  return (
    checkValidity(device.facts, now, policy.clockSkewMs) ?? checkKey(device.facts) ?? checkUsage(device.facts)
  );
};

export const checkValidity = (
  facts: CertificateFacts,
  now: Date,
  clockSkewMs: number,
): Refusal | undefined => {
  if (facts.notBefore.getTime() > now.getTime() + clockSkewMs) {
    return refuse("CERTIFICATE_NOT_YET_VALID", `valid from ${facts.notBefore.toISOString()}`);
  }
  if (facts.notAfter.getTime() <= now.getTime()) {
    return refuse("CERTIFICATE_EXPIRED", `expired ${facts.notAfter.toISOString()}`);
  }
  return undefined;
};

export const checkKey = (facts: CertificateFacts): Refusal | undefined => {
  const { key } = facts;
  if (key.type === "RSA" && key.bits < MIN_RSA_BITS) return refuse("KEY_WEAK", `RSA ${key.bits} bits`);
  if (key.type === "EC" && !ACCEPTED_CURVES.has(key.curve)) {
    return refuse("KEY_ALGORITHM_UNSUPPORTED", `EC curve ${key.curve}`);
  }
  if (key.type === "OTHER") return refuse("KEY_ALGORITHM_UNSUPPORTED", key.algorithm);
  if (!facts.signatureHash || !ACCEPTED_HASHES.has(facts.signatureHash)) {
    return refuse("SIGNATURE_HASH_WEAK", `signed with ${facts.signatureHash ?? "an unknown algorithm"}`);
  }
  return undefined;
};

export const checkUsage = (facts: CertificateFacts): Refusal | undefined => {
  if (facts.isCa) return refuse("CERTIFICATE_IS_CA", "basic constraints say CA:TRUE");
  const usages = facts.extendedKeyUsages;
  if (usages && !usages.includes(CLIENT_AUTH) && !usages.includes(ANY_EXTENDED_KEY_USAGE)) {
    return refuse("CLIENT_AUTH_NOT_ALLOWED", `extended key usage: ${usages.join(", ") || "empty"}`);
  }
  return undefined;
};

export type DeviceIdReading = { ok: true; deviceId: DeviceId } | { ok: false; refusal: Refusal };

/** Reads the device id from the configured subject field; exactly one valid value is accepted. */
export const readDeviceId = (certificate: InspectedCertificate, field: SubjectField): DeviceIdReading => {
  const values = subjectValues(certificate, field);
  if (values.length === 0)
    return {
      ok: false,
      refusal: refuse("DEVICE_ID_MISSING", `no ${field} in "${certificate.facts.subject}"`),
    };
  if (values.length > 1) {
    return {
      ok: false,
      refusal: refuse(
        "DEVICE_ID_AMBIGUOUS",
        `${values.length} ${field} values in "${certificate.facts.subject}"`,
      ),
    };
  }
  const [value = ""] = values;
  if (!isDeviceId(value)) {
    return {
      ok: false,
      refusal: refuse("DEVICE_ID_INVALID", `${field}=${JSON.stringify(value.slice(0, 160))}`),
    };
  }
  return { ok: true, deviceId: value };
};
