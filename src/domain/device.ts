import type { CertificateFacts } from "./certificate.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "./ids.js";
import type { DeviceState } from "./lifecycle.js";
import type { Refusal } from "./refusal.js";
import type { Rotation } from "./rotation.js";

/** Fingerprints the manufacturing line pinned for a device: lower-case hex SHA-256. */
export interface Pins {
  readonly certificateSha256?: string;
  readonly publicKeySha256?: string;
}

/** A device's current state: its allowlist entry, and what provisioning bound to it. */
export interface Device {
  readonly deviceId: DeviceId;
  readonly state: DeviceState;
  readonly batchId: BatchId;
  /** Its batch's CA; none when the batch's devices are born only through fleet provisioning. */
  readonly caCertificateId?: CaCertificateId;
  readonly model?: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly pins: Pins;
  /** The certificate that holds this identity, from the claim on. */
  readonly certificate?: BoundCertificate;
  /** The device's last certificate rotation: during one, its new (or replaced) certificate. */
  readonly rotation?: Rotation;
  /** Optimistic-concurrency version: every change is conditional on it. */
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface BoundCertificate {
  readonly certificateId: CertificateId;
  readonly certificateArn: string;
  readonly certificateSha256: string;
  readonly publicKeySha256: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /**
   * Fleet provisioning: until when the certificate the pre-provisioning hook allowed must first
   * connect (its ownership token's lifetime). A claim still PROVISIONING past it may be given back.
   */
  readonly reservedUntil?: string;
}

export const bindCertificate = (
  certificateId: CertificateId,
  certificateArn: string,
  facts: CertificateFacts,
): BoundCertificate => ({
  certificateId,
  certificateArn,
  certificateSha256: facts.certificateSha256,
  publicKeySha256: facts.publicKeySha256,
  notBefore: facts.notBefore.toISOString(),
  notAfter: facts.notAfter.toISOString(),
});

/** What happened to a device; its history is the list of these. */
export interface DeviceEvent {
  readonly deviceId: DeviceId;
  readonly at: string;
  readonly type: DeviceEventType;
  /** Who or what did it: an IAM identity, or a system component such as "jitr". */
  readonly actor: string;
  readonly reason?: string;
  readonly from?: DeviceState;
  readonly to?: DeviceState;
  readonly certificateId?: CertificateId;
}

export const DEVICE_EVENT_TYPES = [
  "PROVISIONING_STARTED",
  "ACTIVATED",
  "PROVISIONING_FAILED",
  "CLONE_REFUSED",
  "CERTIFICATE_REFUSED",
  /** The first connect of a certificate that waits (no manifest yet, another CA's batch, a paused CA). */
  "CERTIFICATE_WAITING",
  "SUSPENDED",
  "REACTIVATED",
  "REVOKED",
  "DECOMMISSIONED",
  /** An operator (or a manifest) approved the one certificate that may replace the device's. */
  "REPLACEMENT_APPROVED",
  /** The approved certificate connected and took over; the one it replaced was revoked. */
  "CERTIFICATE_REPLACED",
  /** An approval of a replacement certificate expired unused. */
  "REPLACEMENT_EXPIRED",
  /** A certificate the device no longer uses was deleted from IoT Core after its retention. */
  "CERTIFICATE_RETIRED",
  /** An operator or a campaign asked the device to rotate its certificate (through an IoT job). */
  "ROTATION_REQUESTED",
  /** A new certificate issued for the device's request: it and the current one both connect until the commit. */
  "CERTIFICATE_ISSUED",
  /** A rotation request or commit refused; the device keeps its certificate. */
  "ROTATION_REJECTED",
  /** The device committed over its new certificate, which is now its own; the replaced one is INACTIVE. */
  "ROTATION_COMMITTED",
  /** No commit in time, or an operator's action: the new certificate is revoked, the current one stays. */
  "ROTATION_ROLLED_BACK",
  /** The replaced certificate's grace period ended: it is revoked, and queued for retirement. */
  "ROTATION_COMPLETED",
  /** A fleet provisioning reservation whose certificate never connected, given back. */
  "RESERVATION_EXPIRED",
  /** A fleet provisioning request denied because fleetgate could not decide in time (ours, not a verdict). */
  "PROVISIONING_UNAVAILABLE",
  /** A certificate of a revoked or decommissioned device, found ACTIVE and revoked by a repair. */
  "CERTIFICATE_REVOKED",
] as const;
export type DeviceEventType = (typeof DEVICE_EVENT_TYPES)[number];

/** What the system decided about a certificate it saw, kept under the certificate id. */
export type CertificateRecord =
  | {
      readonly certificateId: CertificateId;
      readonly outcome: "ASSIGNED";
      readonly deviceId: DeviceId;
      readonly at: string;
    }
  | {
      readonly certificateId: CertificateId;
      readonly outcome: "REJECTED";
      readonly refusal: Refusal;
      readonly deviceId?: DeviceId;
      readonly caCertificateId?: CaCertificateId;
      readonly at: string;
    }
  | WaitingRecord;

/**
 * A certificate that is not refused but cannot be provisioned yet (its device's manifest has not
 * arrived, or its batch names another CA): IoT Core publishes its event again on each connect.
 */
export interface WaitingRecord {
  readonly certificateId: CertificateId;
  readonly outcome: "WAITING";
  readonly refusal: Refusal;
  readonly deviceId?: DeviceId;
  readonly caCertificateId: CaCertificateId;
  /** When it was first seen waiting; the waiting limit counts from here. */
  readonly firstSeenAt: string;
  readonly lastSeenAt: string;
  readonly attempts: number;
}

/** True when the certificate matches every pin the manifest gave (no pins: nothing to match). */
export const matchesPins = (pins: Pins, facts: CertificateFacts): boolean =>
  (pins.certificateSha256 === undefined || pins.certificateSha256 === facts.certificateSha256) &&
  (pins.publicKeySha256 === undefined || pins.publicKeySha256 === facts.publicKeySha256);

/** The Thing attributes of a device: its manifest attributes plus where it came from. */
export const thingAttributes = (
  device: Pick<Device, "batchId" | "model" | "attributes">,
): Record<string, string> => ({
  ...device.attributes,
  batch: device.batchId,
  ...(device.model ? { model: device.model } : {}),
});
