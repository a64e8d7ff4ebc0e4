import type {
  CertificateFacts,
  CertificateProfile,
  InspectedCertificate,
  InspectedCsr,
  SubjectField,
} from "./certificate.js";
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
// The extensions these checks read or that carry nothing to enforce for a device: RFC 5280 (4.2)
// requires refusing a certificate with any other extension marked critical.
const PROCESSED_EXTENSIONS: Record<string, string> = {
  "2.5.29.14": "subjectKeyIdentifier",
  "2.5.29.15": "keyUsage",
  "2.5.29.17": "subjectAltName",
  "2.5.29.19": "basicConstraints",
  "2.5.29.35": "authorityKeyIdentifier",
  "2.5.29.37": "extKeyUsage",
};

/**
 * The checks on a device certificate that need nothing but the certificate, its CA and the time:
 * the first failure is returned, in a fixed order, so the same certificate always gets the same reason.
 * They are what a TLS handshake with IoT Core would check and more, so a certificate registered
 * ahead of its first connection (where no handshake has run) meets the same bar.
 * The signature comes first: a forgery is always SIGNATURE_INVALID, whatever else is wrong with it.
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
  return checkIssuer(ca, now, policy.clockSkewMs) ?? checkCertificateItself(device, now, policy);
};

/**
 * The checks of a certificate that say nothing of its issuer: how it is built, its validity, its key
 * and its usage. For a certificate IoT Core issued itself (fleet provisioning), whose issuer is
 * Amazon's CA and whose key the device may have chosen (a CSR).
 */
export const checkCertificateItself = (
  certificate: InspectedCertificate,
  now: Date,
  policy: Pick<CertificatePolicy, "clockSkewMs">,
): Refusal | undefined =>
  checkProfile(certificate.profile) ??
  checkValidity(certificate.facts, now, policy.clockSkewMs) ??
  checkKey(certificate.facts) ??
  checkUsage(certificate.facts, certificate.profile);

/** The registered CA must be a CA (RFC 5280 4.2.1.9, 4.2.1.3) and valid now, like any certificate of a path. */
export const checkIssuer = (
  ca: InspectedCertificate,
  now: Date,
  clockSkewMs: number,
): Refusal | undefined => {
  const { facts, profile } = ca;
  const named = `CA "${facts.subject}"`;
  if (!facts.isCa) return refuse("CA_NOT_A_CA", `${named}: basic constraints do not say CA:TRUE`);
  if (profile.keyUsages && !profile.keyUsages.includes("keyCertSign")) {
    return refuse(
      "CA_NOT_A_CA",
      `${named}: key usage ${profile.keyUsages.join(", ") || "empty"} lacks keyCertSign`,
    );
  }
  return checkValidity(facts, now, clockSkewMs, {
    notYetValid: "CA_CERTIFICATE_NOT_YET_VALID",
    expired: "CA_CERTIFICATE_EXPIRED",
    named: `${named} `,
  });
};

/** How the certificate is built: the MUSTs of RFC 5280 that no later check covers. */
export const checkProfile = (profile: CertificateProfile): Refusal | undefined => {
  if (profile.serialNumberSign !== "positive") {
    return refuse("SERIAL_NUMBER_INVALID", `serial number is ${profile.serialNumberSign}`);
  }
  if (!profile.signatureAlgorithmsAgree) {
    return refuse(
      "SIGNATURE_ALGORITHM_MISMATCH",
      `signed inside as ${profile.signedAlgorithm}, outside as ${profile.signatureAlgorithm}`,
    );
  }
  const seen = new Set<string>();
  for (const { oid } of profile.extensions) {
    if (seen.has(oid)) return refuse("EXTENSION_REPEATED", `${extensionName(oid)} appears more than once`);
    seen.add(oid);
  }
  const unknown = profile.extensions.filter(
    ({ oid, critical }) => critical && !(oid in PROCESSED_EXTENSIONS),
  );
  if (unknown.length > 0) {
    return refuse("CRITICAL_EXTENSION_UNKNOWN", `critical ${unknown.map(({ oid }) => oid).join(", ")}`);
  }
  return undefined;
};

const extensionName = (oid: string): string => {
  const name = PROCESSED_EXTENSIONS[oid];
  return name ? `${name} (${oid})` : oid;
};

type ValidityCodes = {
  readonly notYetValid: "CERTIFICATE_NOT_YET_VALID" | "CA_CERTIFICATE_NOT_YET_VALID";
  readonly expired: "CERTIFICATE_EXPIRED" | "CA_CERTIFICATE_EXPIRED";
  /** Prefix of the detail: which certificate, when it is not the device's. */
  readonly named: string;
};
const DEVICE_VALIDITY: ValidityCodes = {
  notYetValid: "CERTIFICATE_NOT_YET_VALID",
  expired: "CERTIFICATE_EXPIRED",
  named: "",
};

export const checkValidity = (
  facts: CertificateFacts,
  now: Date,
  clockSkewMs: number,
  codes: ValidityCodes = DEVICE_VALIDITY,
): Refusal | undefined => {
  if (facts.notBefore.getTime() > now.getTime() + clockSkewMs) {
    return refuse(codes.notYetValid, `${codes.named}valid from ${facts.notBefore.toISOString()}`);
  }
  if (facts.notAfter.getTime() <= now.getTime()) {
    return refuse(codes.expired, `${codes.named}expired ${facts.notAfter.toISOString()}`);
  }
  return undefined;
};

/** The key and the signature's hash, of a certificate or of a certificate request. */
export const checkKey = (facts: Pick<CertificateFacts, "key" | "signatureHash">): Refusal | undefined => {
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

export const checkUsage = (facts: CertificateFacts, profile: CertificateProfile): Refusal | undefined => {
  if (facts.isCa) return refuse("CERTIFICATE_IS_CA", "basic constraints say CA:TRUE");
  // A TLS client proves its key by signing the handshake.
  if (profile.keyUsages && !profile.keyUsages.includes("digitalSignature")) {
    return refuse("KEY_USAGE_NOT_ALLOWED", `key usage: ${profile.keyUsages.join(", ") || "empty"}`);
  }
  const usages = facts.extendedKeyUsages;
  if (usages && !usages.includes(CLIENT_AUTH) && !usages.includes(ANY_EXTENDED_KEY_USAGE)) {
    return refuse("CLIENT_AUTH_NOT_ALLOWED", `extended key usage: ${usages.join(", ") || "empty"}`);
  }
  return undefined;
};

export type DeviceIdReading = { ok: true; deviceId: DeviceId } | { ok: false; refusal: Refusal };

/** Reads the device id from the configured subject field; exactly one valid value is accepted. */
export const readDeviceId = (
  certificate: InspectedCertificate | InspectedCsr,
  field: SubjectField,
): DeviceIdReading => {
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
  const [value = { text: "" }] = values;
  if ("notAString" in value) {
    return {
      ok: false,
      refusal: refuse(
        "DEVICE_ID_INVALID",
        `${field} is ${article(value.notAString)} ${value.notAString}, not a string`,
      ),
    };
  }
  if (!isDeviceId(value.text)) {
    return {
      ok: false,
      refusal: refuse("DEVICE_ID_INVALID", `${field}=${JSON.stringify(value.text.slice(0, 160))}`),
    };
  }
  return { ok: true, deviceId: value.text };
};

const article = (word: string): string => (/^[AEIOU]/.test(word) ? "an" : "a");

/** What registering a CA answers: refused, or accepted with what the operator should know. */
export type CaVerdict =
  | { readonly ok: true; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly refusal: Refusal };

// A CA that expires within this many days is accepted with a warning: plan its successor.
export const CA_EXPIRY_WARNING_DAYS = 90;

/**
 * A CA fit to register: a CA (CA:TRUE, keyCertSign), valid now, built as RFC 5280 requires, with a
 * key and signature this project accepts for devices. A CA expiring soon is accepted, with a warning.
 */
export const checkCaForRegistration = (ca: InspectedCertificate, now: Date): CaVerdict => {
  const refusal = checkIssuer(ca, now, 0) ?? checkProfile(ca.profile) ?? checkKey(ca.facts);
  if (refusal) return { ok: false, refusal };
  const days = Math.floor((ca.facts.notAfter.getTime() - now.getTime()) / 86_400_000);
  return {
    ok: true,
    warnings:
      days < CA_EXPIRY_WARNING_DAYS
        ? [`the CA expires in ${days} days (${ca.facts.notAfter.toISOString()}): register its successor`]
        : [],
  };
};
