/**
 * Why a certificate was refused. Codes are stable (operators alert and query on them); the
 * detail says, in an operator's words, what exactly was wrong with this certificate.
 */
export const REFUSAL_REASONS = {
  EVENT_CA_MISMATCH: "The certificate was not registered under the CA the event names.",
  CA_NOT_REGISTERED: "The issuing CA is not registered in IoT Core.",
  CA_NOT_ACTIVE: "The issuing CA is not ACTIVE in IoT Core.",
  CA_CERTIFICATE_INVALID: "The registered CA certificate cannot be used to verify devices.",
  CA_NOT_A_CA:
    "The registered CA certificate is not a CA: basic constraints do not say CA:TRUE, or its key usage does not allow signing certificates.",
  CA_CERTIFICATE_NOT_YET_VALID: "The registered CA certificate's validity has not started yet.",
  CA_CERTIFICATE_EXPIRED: "The registered CA certificate has expired.",
  CERTIFICATE_MALFORMED: "The device certificate cannot be parsed as X.509.",
  SIGNATURE_INVALID: "The device certificate is not signed by the CA it claims.",
  SERIAL_NUMBER_INVALID: "The device certificate's serial number is zero or negative; it must be positive.",
  SIGNATURE_ALGORITHM_MISMATCH:
    "The algorithm signed inside the device certificate is not the one its signature is said to use.",
  EXTENSION_REPEATED: "The device certificate carries an extension more than once.",
  CRITICAL_EXTENSION_UNKNOWN:
    "The device certificate has an extension marked critical that fleetgate does not process.",
  CERTIFICATE_NOT_YET_VALID: "The device certificate's validity has not started yet.",
  CERTIFICATE_EXPIRED: "The device certificate has expired.",
  KEY_WEAK: "The device key is too weak (RSA below 2048 bits).",
  KEY_ALGORITHM_UNSUPPORTED:
    "The device key type is not accepted (RSA >= 2048 or EC P-256/P-384/P-521 only).",
  SIGNATURE_HASH_WEAK: "The certificate is signed with a hash weaker than SHA-256.",
  CERTIFICATE_IS_CA: "The device certificate is a CA certificate.",
  KEY_USAGE_NOT_ALLOWED:
    "The certificate's key usage does not allow digital signatures, which TLS client authentication needs.",
  CLIENT_AUTH_NOT_ALLOWED: "The certificate's extended key usage does not allow TLS client authentication.",
  DEVICE_ID_MISSING: "The certificate subject has no device id field.",
  DEVICE_ID_AMBIGUOUS: "The certificate subject carries the device id field more than once.",
  DEVICE_ID_INVALID: "The device id in the certificate is not a string, or not a valid Thing name.",
  NOT_ON_ALLOWLIST: "No registered batch lists this device id.",
  ALLOWLIST_ENTRY_NOT_ALLOWED:
    "The device's allowlist entry does not allow provisioning in its current state.",
  CA_NOT_BATCH_CA: "The certificate was issued by a CA other than the one of the device's batch.",
  PIN_MISMATCH: "The certificate or key does not match the fingerprint pinned by the manifest.",
  IDENTITY_ALREADY_CLAIMED: "Another certificate already holds this device identity (possible clone).",
  PROVISIONING_FAILED: "IoT Core refused a provisioning step for good.",
  PROVISIONING_PARAMETERS_INVALID:
    "The fleet provisioning request's parameters do not name a valid device id.",
  CLAIM_NOT_RECOGNISED: "The claim certificate is not one fleetgate issued for a batch, or it was revoked.",
  CLAIM_NOT_FOR_BATCH: "The claim certificate is not bound to the device's batch.",
  RESERVATION_EXPIRED:
    "The device did not connect with its new certificate within the ownership token's lifetime; the identity was given back.",
} as const;

export type RefusalCode = keyof typeof REFUSAL_REASONS;

export interface Refusal {
  readonly code: RefusalCode;
  /** What exactly was found, e.g. "RSA 1024 bits" or "expired 2026-01-01T00:00:00.000Z". */
  readonly detail: string;
}

export const refuse = (code: RefusalCode, detail: string = REFUSAL_REASONS[code]): Refusal => ({
  code,
  detail,
});

/** A one-line diagnosis for logs, tables and records. */
export const describeRefusal = (refusal: Refusal): string =>
  refusal.detail === REFUSAL_REASONS[refusal.code]
    ? `${refusal.code}: ${refusal.detail}`
    : `${refusal.code}: ${REFUSAL_REASONS[refusal.code]} (${refusal.detail})`;

/**
 * Refusals that point at an attack rather than a mistake: they are raised as security events.
 * The checks of a CA and of how a certificate is built (CA_NOT_A_CA, SERIAL_NUMBER_INVALID,
 * CRITICAL_EXTENSION_UNKNOWN, ...) are not: they run after the signature verified, so the CA made
 * the certificate as it is, a CA's or an operator's mistake; a forger meets SIGNATURE_INVALID first.
 */
export const isSecurityRefusal = (code: RefusalCode): boolean =>
  code === "IDENTITY_ALREADY_CLAIMED" ||
  code === "SIGNATURE_INVALID" ||
  code === "PIN_MISMATCH" ||
  // A factory's claim used for another factory's devices: a leaked claim certificate.
  code === "CLAIM_NOT_FOR_BATCH";
