import type { Device } from "./device.js";
import { IllegalTransitionError, ValidationError } from "./errors.js";
import type { CertificateId, DeviceId } from "./ids.js";

/**
 * Planned re-provisioning: an operator (or a manifest) approves, in advance, the one certificate
 * that may take over an identity already provisioned, a replaced secure element or a refurbished
 * unit. Its first connection provisions it and retires the certificate it replaces; any other new
 * certificate for the identity is still a clone, and so is the approved one once its approval expired.
 */
export interface ReplacementApproval {
  readonly deviceId: DeviceId;
  /** The approved certificate's SHA-256, which is also its IoT Core certificate id. */
  readonly certificateSha256: CertificateId;
  /** The certificate it replaces: the one the device held when it was approved. */
  readonly replaces: CertificateId;
  /** Who approved it: an operator's IAM identity, or a manifest's registrant. */
  readonly approvedBy: string;
  readonly approvedAt: string;
  readonly expiresAt: string;
  readonly reason?: string;
}

export const isApprovalExpired = (approval: ReplacementApproval, now: Date): boolean =>
  now.getTime() >= Date.parse(approval.expiresAt);

export interface ApprovalLimits {
  /** How long an approval lives when the operator does not say. */
  readonly defaultMs: number;
  /** How long an approval may live at most. */
  readonly maxMs: number;
}

const HOUR_MS = 3_600_000;
const LIFETIME = /^([1-9]\d{0,4})([hd])$/;

/** "12h" or "30d": how long an approval lives. Bad input when it is not one, or longer than allowed. */
export const parseApprovalLifetime = (text: string, limits: ApprovalLimits): number => {
  const match = LIFETIME.exec(text);
  if (!match) throw new ValidationError("invalid expiry", [`expiresIn: ${text} is not <hours>h or <days>d`]);
  const ms = Number(match[1]) * (match[2] === "d" ? 24 : 1) * HOUR_MS;
  if (ms > limits.maxMs)
    throw new ValidationError("invalid expiry", [
      `expiresIn: ${text} is longer than the ${describeLifetime(limits.maxMs)} an approval may last`,
    ]);
  return ms;
};

export const describeLifetime = (ms: number): string =>
  ms % (24 * HOUR_MS) === 0 ? `${ms / (24 * HOUR_MS)}d` : `${Math.round(ms / HOUR_MS)}h`;

/**
 * The approval of `certificateSha256` to replace the certificate `device` holds now, or an
 * IllegalTransitionError: only an ACTIVE device's certificate is replaced this way (a device that
 * never connected takes its pin from its manifest; a suspended, revoked or retired one is not
 * given a new identity by an approval).
 */
export const approveReplacement = (
  device: Device,
  request: {
    readonly certificateSha256: CertificateId;
    readonly approvedBy: string;
    readonly reason?: string;
    readonly lifetimeMs: number;
  },
  now: Date,
): ReplacementApproval => {
  const current = device.certificate;
  if (device.state !== "ACTIVE" || !current)
    throw new IllegalTransitionError(
      `cannot approve a replacement certificate for a device that is ${device.state}: only an ACTIVE device's certificate is replaced`,
    );
  if (
    current.certificateId === request.certificateSha256 ||
    current.certificateSha256 === request.certificateSha256
  )
    throw new IllegalTransitionError(
      `certificate ${request.certificateSha256} is the one device ${device.deviceId} holds already`,
    );
  return {
    deviceId: device.deviceId,
    certificateSha256: request.certificateSha256,
    replaces: current.certificateId,
    approvedBy: request.approvedBy,
    approvedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + request.lifetimeMs).toISOString(),
    ...(request.reason ? { reason: request.reason } : {}),
  };
};
