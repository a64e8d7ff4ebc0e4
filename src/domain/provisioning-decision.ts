import type { CertificateFacts } from "./certificate.js";
import { type CertificateRecord, type Device, matchesPins } from "./device.js";
import type { CaCertificateId, CertificateId, DeviceId } from "./ids.js";
import { type Refusal, type RefusalCode, refuse } from "./refusal.js";
import { isApprovalExpired, type ReplacementApproval } from "./replacement.js";

/** IoT Core certificate statuses (DescribeCertificate). */
export type CertificateStatus =
  | "ACTIVE"
  | "INACTIVE"
  | "REVOKED"
  | "PENDING_TRANSFER"
  | "REGISTER_INACTIVE"
  | "PENDING_ACTIVATION";

export type CertificateOrigin = "jitr" | "jitp" | "manifest";

/**
 * The status a certificate waits for fleetgate in: PENDING_ACTIVATION as IoT Core registered it
 * (JITR), or INACTIVE as fleetgate's JITP template or a manifest's pre-registration left it.
 */
export const waitingStatusOf = (origin: CertificateOrigin = "jitr"): CertificateStatus =>
  origin === "jitr" ? "PENDING_ACTIVATION" : "INACTIVE";

export interface ProvisioningFacts {
  /**
   * jitr: IoT Core registered the certificate on first connect; jitp: it did and applied fleetgate's
   * JITP template (the Thing made, the certificate INACTIVE); manifest: we pre-registered it.
   */
  readonly origin?: CertificateOrigin;
  readonly certificateId: CertificateId;
  readonly certificateStatus: CertificateStatus;
  readonly caCertificateId: CaCertificateId;
  /** The certificate-only verdict: a refusal, or the facts and device id it yields. */
  readonly certificate:
    | { ok: true; facts: CertificateFacts; deviceId: DeviceId }
    | { ok: false; refusal: Refusal; deviceId?: DeviceId };
  /** The allowlist entry of the device id, when the certificate yielded one and it exists. */
  readonly device: Device | undefined;
  /** What was decided about this certificate before, if anything. */
  readonly record: CertificateRecord | undefined;
  /** An operator's approval of a replacement certificate for the device, if one is pending. */
  readonly approval?: ReplacementApproval;
  readonly now: Date;
  /** How long a certificate may wait for its allowlist entry before it is refused. */
  readonly waitLimitMs: number;
}

export type ProvisioningDecision =
  /** Claim the allowlist entry and provision. */
  | { readonly kind: "provision"; readonly device: Device; readonly facts: CertificateFacts }
  /** A claim by this certificate exists: finish the steps (a crash or a race interrupted them). */
  | { readonly kind: "resume"; readonly device: Device; readonly facts: CertificateFacts }
  /** The approved replacement of the device's certificate: provision it, retire the one it replaces. */
  | {
      readonly kind: "replace";
      readonly device: Device;
      readonly facts: CertificateFacts;
      readonly approval: ReplacementApproval;
    }
  | {
      readonly kind: "refuse";
      readonly refusal: Refusal;
      readonly deviceId?: DeviceId;
      readonly device?: Device;
    }
  /** JITP has registered the certificate but not applied its template yet: decide once it has. */
  | { readonly kind: "retry-later"; readonly why: string }
  /** Not provisionable yet, and not a verdict: record why, revoke nothing, decide again on its next connect. */
  | { readonly kind: "wait"; readonly refusal: Refusal; readonly deviceId?: DeviceId }
  /** The claiming certificate was revoked or deactivated mid-way: give the identity back. */
  | { readonly kind: "abandon"; readonly device: Device; readonly refusal: Refusal }
  /** Refused before: make sure the certificate is revoked, record nothing new. */
  | { readonly kind: "already-refused"; readonly refusal: Refusal }
  | { readonly kind: "already-active"; readonly device: Device }
  /** Not ours to act on (an operator or another path changed the certificate); say why. */
  | { readonly kind: "ignore"; readonly why: string };

/**
 * Decides what to do with a certificate that registered itself. Pure, and total over its inputs,
 * so redelivered or concurrent events reach the same decision from the same state.
 */
export const decideProvisioning = (input: ProvisioningFacts): ProvisioningDecision => {
  const { record, device, certificate, certificateId } = input;
  if (record?.outcome === "REJECTED") return { kind: "already-refused", refusal: record.refusal };

  const boundHere = device?.certificate?.certificateId === certificateId;
  if (boundHere && device) {
    if (!certificate.ok) return { kind: "ignore", why: "certificate bound to a device no longer parses" };
    if (device.state === "PROVISIONING") {
      // INACTIVE is where a JITP or manifest certificate waits until it is activated: only for a
      // JITR one, PENDING_ACTIVATION until then, does it mean someone deactivated it meanwhile.
      const deactivated =
        input.certificateStatus === "INACTIVE" && waitingStatusOf(input.origin) !== "INACTIVE";
      if (input.certificateStatus === "REVOKED" || deactivated) {
        return {
          kind: "abandon",
          device,
          refusal: refuse("PROVISIONING_FAILED", `certificate became ${input.certificateStatus}`),
        };
      }
      return { kind: "resume", device, facts: certificate.facts };
    }
    if (device.state === "ACTIVE") return { kind: "already-active", device };
    return { kind: "ignore", why: `device ${device.deviceId} is ${device.state}` };
  }

  const replacement = decideReplacement(input);
  if (replacement) return replacement;

  const waiting = waitingStatusOf(input.origin);
  if (input.origin === "jitp" && input.certificateStatus === "PENDING_ACTIVATION")
    return { kind: "retry-later", why: "JITP has not applied its template to the certificate yet" };
  if (input.certificateStatus !== waiting) {
    return { kind: "ignore", why: `certificate is ${input.certificateStatus}, not ${waiting}` };
  }
  if (!certificate.ok) return waitOrRefuse(input, certificate.refusal, certificate.deviceId);

  const { deviceId, facts } = certificate;
  if (!device) return waitOrRefuse(input, refuse("NOT_ON_ALLOWLIST", `device id ${deviceId}`), deviceId);
  if (device.caCertificateId !== input.caCertificateId) {
    return waitOrRefuse(
      input,
      refuse(
        "CA_NOT_BATCH_CA",
        device.caCertificateId
          ? `issued by CA ${input.caCertificateId}, batch ${device.batchId} expects ${device.caCertificateId}`
          : `issued by CA ${input.caCertificateId}, batch ${device.batchId} has no CA: its devices are born through fleet provisioning`,
      ),
      deviceId,
    );
  }
  const refusal = refuseNewCertificate(device, facts);
  if (refusal) return { kind: "refuse", refusal, deviceId, device };
  return { kind: "provision", device, facts };
};

/**
 * Whether an allowlist entry may be taken by a new certificate, whichever way the device came:
 * the refusal when it may not (a revoked identity, a clone, pins that do not match), else undefined.
 */
export const refuseNewCertificate = (device: Device, facts: CertificateFacts): Refusal | undefined => {
  if (device.state === "REVOKED" || device.state === "DECOMMISSIONED")
    return refuse("ALLOWLIST_ENTRY_NOT_ALLOWED", `entry is ${device.state}`);
  // Another certificate holds this identity: the first device keeps it, this one is a clone.
  if (device.certificate)
    return refuse(
      "IDENTITY_ALREADY_CLAIMED",
      `held by certificate ${device.certificate.certificateId} (${device.state})`,
    );
  if (device.state !== "ALLOWED") return refuse("ALLOWLIST_ENTRY_NOT_ALLOWED", `entry is ${device.state}`);
  if (!matchesPins(device.pins, facts)) return refuse("PIN_MISMATCH", describePins(device, facts));
  return undefined;
};

/**
 * Refusals that say a device is early, or its CA paused by an operator, not that its certificate
 * is bad. Revoking is forever, so these wait: the manifest may still come, the CA may come back.
 */
const WAIT_FOR: ReadonlySet<RefusalCode> = new Set(["NOT_ON_ALLOWLIST", "CA_NOT_BATCH_CA", "CA_NOT_ACTIVE"]);

const waitOrRefuse = (
  input: ProvisioningFacts,
  refusal: Refusal,
  deviceId?: DeviceId,
): ProvisioningDecision => {
  const id = deviceId ? { deviceId } : {};
  // A certificate we registered from a manifest gets no second event: waiting would be forever.
  if (!WAIT_FOR.has(refusal.code) || input.origin === "manifest") return { kind: "refuse", refusal, ...id };
  const since = input.record?.outcome === "WAITING" ? input.record.firstSeenAt : undefined;
  if (since !== undefined && input.now.getTime() - Date.parse(since) >= input.waitLimitMs)
    return {
      kind: "refuse",
      refusal: refuse(refusal.code, `${refusal.detail}; waited since ${since}`),
      ...id,
    };
  return { kind: "wait", refusal, ...id };
};

const describePins = (device: Device, facts: CertificateFacts): string =>
  device.pins.certificateSha256 !== undefined && device.pins.certificateSha256 !== facts.certificateSha256
    ? `certificate SHA-256 ${facts.certificateSha256} is not the pinned ${device.pins.certificateSha256}`
    : `public key SHA-256 ${facts.publicKeySha256} is not the pinned ${device.pins.publicKeySha256}`;

/**
 * The provisioning decision for a certificate that an approval names, or undefined when the
 * approval does not apply (no approval, another certificate, another CA, the device changed
 * since): the ordinary checks then decide, and find any other new certificate a clone.
 */
const decideReplacement = (input: ProvisioningFacts): ProvisioningDecision | undefined => {
  const { approval, device, certificate } = input;
  if (!approval || !device?.certificate || !certificate.ok) return undefined;
  if (approval.certificateSha256 !== certificate.facts.certificateSha256) return undefined;
  if (approval.deviceId !== device.deviceId || approval.replaces !== device.certificate.certificateId)
    return undefined;
  if (device.caCertificateId !== input.caCertificateId) return undefined;
  const waiting = waitingStatusOf(input.origin);
  // ACTIVE: this replacement activated it and stopped before recording it; finishing is safe.
  if (input.certificateStatus !== waiting && input.certificateStatus !== "ACTIVE") return undefined;
  if (isApprovalExpired(approval, input.now)) {
    if (input.certificateStatus !== waiting) return undefined;
    return {
      kind: "refuse",
      refusal: refuse(
        "IDENTITY_ALREADY_CLAIMED",
        `held by certificate ${device.certificate.certificateId} (${device.state}); the approval of this certificate by ${approval.approvedBy} expired at ${approval.expiresAt}`,
      ),
      deviceId: device.deviceId,
      device,
    };
  }
  if (device.state !== "ACTIVE") return undefined;
  return { kind: "replace", device, facts: certificate.facts, approval };
};
