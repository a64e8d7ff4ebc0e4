import type { DeviceState } from "./lifecycle.js";
import type { RefusalCode } from "./refusal.js";

/**
 * What an operator can do about a refusal or a state, in their words: the answer to "why can't
 * device X connect?" ends with one of these.
 */
const NEW_CERTIFICATE =
  "The device needs a new certificate from the manufacturing line; this one stays revoked.";
const CA_SETUP =
  "The CA registered in IoT Core cannot verify devices: register a proper CA certificate (fleetgate ca register), then have the device connect again.";

export const REFUSAL_ADVICE: Readonly<Record<RefusalCode, string>> = {
  EVENT_CA_MISMATCH:
    "IoT Core's event and its registry disagree on the CA: report it; the certificate was revoked.",
  CA_NOT_REGISTERED: CA_SETUP,
  CA_NOT_ACTIVE:
    "The issuing CA is deactivated: the device waits. Reactivate the CA if that was a mistake; the device is provisioned on its next connect.",
  CA_CERTIFICATE_INVALID: CA_SETUP,
  CA_NOT_A_CA: CA_SETUP,
  CA_CERTIFICATE_NOT_YET_VALID: CA_SETUP,
  CA_CERTIFICATE_EXPIRED:
    "The issuing CA has expired: register its successor and re-issue the device certificates.",
  CERTIFICATE_MALFORMED: NEW_CERTIFICATE,
  SIGNATURE_INVALID:
    "The certificate was not made by the CA it names: a forgery or a misconfigured line. Treat it as a security event.",
  SERIAL_NUMBER_INVALID: NEW_CERTIFICATE,
  SIGNATURE_ALGORITHM_MISMATCH: NEW_CERTIFICATE,
  EXTENSION_REPEATED: NEW_CERTIFICATE,
  CRITICAL_EXTENSION_UNKNOWN: NEW_CERTIFICATE,
  CERTIFICATE_NOT_YET_VALID:
    "The certificate starts in the future: check the device's and the line's clocks; it needs a new certificate.",
  CERTIFICATE_EXPIRED: NEW_CERTIFICATE,
  KEY_WEAK: `${NEW_CERTIFICATE} Keys: RSA of 2048 bits or more, or EC P-256/P-384/P-521.`,
  KEY_ALGORITHM_UNSUPPORTED: `${NEW_CERTIFICATE} Keys: RSA of 2048 bits or more, or EC P-256/P-384/P-521.`,
  SIGNATURE_HASH_WEAK: `${NEW_CERTIFICATE} Signatures: SHA-256 or stronger.`,
  CERTIFICATE_IS_CA: `${NEW_CERTIFICATE} A device certificate must not be a CA.`,
  KEY_USAGE_NOT_ALLOWED: `${NEW_CERTIFICATE} Its key usage must allow digital signatures.`,
  CLIENT_AUTH_NOT_ALLOWED: `${NEW_CERTIFICATE} Its extended key usage must allow TLS client authentication.`,
  DEVICE_ID_MISSING: `${NEW_CERTIFICATE} Its subject must name the device in the configured field.`,
  DEVICE_ID_AMBIGUOUS: `${NEW_CERTIFICATE} Its subject must name the device once.`,
  DEVICE_ID_INVALID: `${NEW_CERTIFICATE} The device id must be a Thing name: 1-128 of a-z A-Z 0-9 : _ -.`,
  NOT_ON_ALLOWLIST:
    "No batch lists this device yet: register its manifest (fleetgate batch register). It is provisioned on its first connect after that.",
  ALLOWLIST_ENTRY_NOT_ALLOWED:
    "The device's entry is revoked or decommissioned: that identity cannot come back. Give the device a new identity in a new batch.",
  CA_NOT_BATCH_CA:
    "The certificate comes from another CA than the one its batch names: check which line made the device, and register it under the right batch. It waits meanwhile.",
  PIN_MISMATCH:
    "The certificate or key is not the one the manifest pinned: a swapped secure element, a wrong manifest, or a counterfeit. Treat it as a security event.",
  IDENTITY_ALREADY_CLAIMED:
    "Another certificate already holds this identity: a clone, or a device whose secure element was replaced. Check the device; a legitimate replacement needs its new certificate approved.",
  PROVISIONING_FAILED:
    "The certificate was revoked or deactivated while it was being provisioned: the identity is free again for a new certificate.",
  PROVISIONING_PARAMETERS_INVALID:
    "The device's fleet provisioning request must pass its device id (a Thing name) in the DeviceId parameter: fix the firmware's request.",
  CLAIM_NOT_RECOGNISED:
    "The device used a claim certificate fleetgate did not issue, or one that was revoked: give it a current claim (fleetgate claim create).",
  CLAIM_NOT_FOR_BATCH:
    "The claim certificate was issued for another batch than the device's: a leaked claim, or a device on the wrong line. Treat it as a security event.",
  RESERVATION_EXPIRED:
    "The device was allowed through fleet provisioning but never connected with its new certificate: the identity is free again; the device provisions anew.",
};

/** Advice for an entry whose state alone would mislead. */
export const FLEET_ADVICE = {
  /** ALLOWED, in a batch without a CA. */
  allowedWithoutCa:
    "On the allowlist, not provisioned yet: its batch has no CA, so it is provisioned through fleet provisioning, with a claim of its batch.",
  /** PROVISIONING, reserved by the pre-provisioning hook for the certificate IoT Core issued. */
  reserved: (until: string) =>
    `Allowed through fleet provisioning and reserved until ${until} for its new certificate: its first connection with it makes it ACTIVE. If it never connects, a certificate IoT Core never activated gives the identity back to the next claim after that; one it activated keeps it (the reconciler then reports RESERVATION_NOT_CONFIRMED): revoke the device if it was lost.`,
};

export const STATE_ADVICE: Readonly<Record<DeviceState, string>> = {
  ALLOWED:
    "On the allowlist, not provisioned yet: it is provisioned on its first connect with a certificate of its batch's CA.",
  PROVISIONING:
    "Being provisioned: if it stays so, a step failed for a reason of ours (see the JITR dead-letter queue and its alarm); the device's next connect resumes it.",
  ACTIVE:
    "Provisioned. If it cannot connect, check that its MQTT client id is its device id (the policy demands it), that it sends its CA in its chain, and its topics are under its own prefix.",
  SUSPENDED: "Suspended by an operator: reactivate it (fleetgate device reactivate) to let it connect.",
  REVOKED: "Revoked: that identity cannot come back. Give the device a new identity in a new batch.",
  DECOMMISSIONED: "Decommissioned: its Thing is gone; its history stays.",
};
