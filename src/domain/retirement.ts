import type { Device } from "./device.js";
import type { CaCertificateId, CertificateId, DeviceId } from "./ids.js";
import type { DeviceState } from "./lifecycle.js";
import type { CertificateStatus } from "./provisioning-decision.js";

/**
 * Clean retirement: a certificate fleetgate no longer lets connect (replaced, revoked with its
 * device, refused) waits out a retention period, then is detached and deleted from IoT Core, so
 * dead certificates do not pile up there. fleetgate keeps its record and the device's history.
 */
export type RetirementReason = "REPLACED" | "REVOKED" | "DECOMMISSIONED" | "REFUSED";

export interface RetirableCertificate {
  readonly certificateId: CertificateId;
  readonly deviceId?: DeviceId;
  readonly caCertificateId?: CaCertificateId;
  /** When it stopped being usable (replaced, revoked, refused): its retention counts from here. */
  readonly since: string;
  readonly why: RetirementReason;
}

/** The reason a device's certificate is retired after the device moves to `to`, if it is. */
export const retirementAfter = (to: DeviceState): RetirementReason | undefined =>
  to === "REVOKED" || to === "DECOMMISSIONED" ? to : undefined;

/** The moment before which a certificate's retention has ended. */
export const retentionCutoff = (now: Date, retentionMs: number): string =>
  new Date(now.getTime() - retentionMs).toISOString();

/** What IoT Core's status of a certificate allows: delete it, leave it (and say why), or it is gone. */
export type StatusVerdict =
  | { readonly kind: "delete" }
  | { readonly kind: "gone" }
  | { readonly kind: "leave"; readonly why: string };

export const judgeStatus = (status: CertificateStatus | undefined): StatusVerdict => {
  if (status === undefined) return { kind: "gone" };
  // fleetgate's record says it is done with it, IoT Core says it can connect: a drift to look at
  // (the reconciler reports it), never a certificate to delete.
  if (status === "ACTIVE") return { kind: "leave", why: "ACTIVE in IoT Core: it can connect" };
  if (status === "PENDING_TRANSFER") return { kind: "leave", why: "being transferred to another account" };
  return { kind: "delete" };
};

// A device in one of these states may connect with its certificate, or is about to.
const LIVE: ReadonlySet<DeviceState> = new Set(["PROVISIONING", "ACTIVE", "SUSPENDED"]);

/**
 * Whether a Thing holding the certificate lets it be detached: not when the Thing is a live
 * device's and this is that device's certificate, and not when fleetgate has no record of the
 * Thing (it is not fleetgate's to change).
 */
export const judgeHolder = (
  certificateId: CertificateId,
  thingName: DeviceId,
  device: Device | undefined,
): { readonly kind: "detach" } | { readonly kind: "leave"; readonly why: string } => {
  if (!device)
    return { kind: "leave", why: `attached to Thing ${thingName}, of which fleetgate has no record` };
  if (device.certificate?.certificateId === certificateId && LIVE.has(device.state))
    return { kind: "leave", why: `attached to Thing ${thingName}, whose device is ${device.state} with it` };
  return { kind: "detach" };
};
