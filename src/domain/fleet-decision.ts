import type { CertificateFacts } from "./certificate.js";
import type { ClaimBinding } from "./claim.js";
import type { Device } from "./device.js";
import type { CertificateId, DeviceId } from "./ids.js";
import { type CertificateStatus, refuseNewCertificate } from "./provisioning-decision.js";
import { type Refusal, refuse } from "./refusal.js";

/** What the pre-provisioning hook knows when IoT Core asks whether a device may be provisioned. */
export interface FleetFacts {
  /** The certificate IoT Core just made for the device (CreateKeysAndCertificate or from its CSR). */
  readonly certificateId: CertificateId;
  /** The identity the device named in its parameters. */
  readonly deviceId: DeviceId;
  /** The verdict on the new certificate alone: its key, validity, usage. */
  readonly certificate:
    | { readonly ok: true; readonly facts: CertificateFacts }
    | { readonly ok: false; readonly refusal: Refusal };
  /** The claim certificate's binding, when fleetgate issued it. */
  readonly claim: ClaimBinding | undefined;
  /** The allowlist entry of the device id, when there is one. */
  readonly device: Device | undefined;
  /**
   * IoT Core's status of the certificate whose reservation of this identity has expired, once it
   * was asked ("ABSENT": IoT Core deleted it, as it does an unused one after an hour).
   */
  readonly holderStatus?: CertificateStatus | "ABSENT";
  readonly now: Date;
}

export type FleetDecision =
  /** Reserve the entry for the new certificate; first give back an expired reservation, when named. */
  | {
      readonly kind: "reserve";
      readonly device: Device;
      readonly facts: CertificateFacts;
      readonly expired?: {
        readonly certificateId: CertificateId;
        readonly holderStatus: CertificateStatus | "ABSENT";
      };
    }
  /** This certificate holds the reservation already: IoT Core asked again (a retried RegisterThing). */
  | { readonly kind: "allowed-before"; readonly device: Device }
  /** The entry's reservation expired unconfirmed: ask IoT Core about its certificate, then decide again. */
  | { readonly kind: "check-holder"; readonly holder: CertificateId }
  | { readonly kind: "deny"; readonly refusal: Refusal; readonly device?: Device };

/**
 * Decides a fleet provisioning request from the allowlist, the claim and the new certificate. Pure
 * and total: a denial revokes nothing (IoT Core never activates a denied certificate and deletes
 * it within the hour), so a device denied for being early may simply try again.
 */
export const decideFleetProvisioning = (input: FleetFacts): FleetDecision => {
  const { claim, device, certificate, certificateId, deviceId } = input;
  if (!claim || claim.revoked)
    return deny(
      refuse(
        "CLAIM_NOT_RECOGNISED",
        claim?.revoked ? `claim revoked ${claim.revoked.at}` : "no binding recorded",
      ),
    );
  if (!certificate.ok) return deny(certificate.refusal, device);
  if (!device) return deny(refuse("NOT_ON_ALLOWLIST", `device id ${deviceId}`));
  if (!claim.batchIds.includes(device.batchId))
    return deny(
      refuse(
        "CLAIM_NOT_FOR_BATCH",
        `claim ${claim.claimCertificateId} is for ${claim.batchIds.join(", ")}; ${deviceId} is of batch ${device.batchId}`,
      ),
      device,
    );

  const holder = device.certificate?.certificateId;
  if (holder === certificateId) {
    if (device.state === "PROVISIONING" || device.state === "ACTIVE")
      return { kind: "allowed-before", device };
    return deny(refuse("ALLOWLIST_ENTRY_NOT_ALLOWED", `entry is ${device.state}`), device);
  }
  if (holder && reservationExpired(device, input.now)) {
    if (input.holderStatus === undefined) return { kind: "check-holder", holder };
    // IoT Core applied the template for it: that device holds the identity, it just has not connected.
    if (input.holderStatus === "ACTIVE")
      return deny(
        refuse(
          "IDENTITY_ALREADY_CLAIMED",
          `held by certificate ${holder}, provisioned and not connected yet`,
        ),
        device,
      );
    const { certificate: _expired, ...entry } = device;
    const refusal = refuseNewCertificate({ ...entry, state: "ALLOWED" }, certificate.facts);
    if (refusal) return deny(refusal, device);
    return {
      kind: "reserve",
      device,
      facts: certificate.facts,
      expired: { certificateId: holder, holderStatus: input.holderStatus },
    };
  }
  const refusal = refuseNewCertificate(device, certificate.facts);
  if (refusal) return deny(refusal, device);
  return { kind: "reserve", device, facts: certificate.facts };
};

const deny = (refusal: Refusal, device?: Device): FleetDecision => ({
  kind: "deny",
  refusal,
  ...(device ? { device } : {}),
});

/** A reservation the hook made that its certificate did not confirm in time. */
export const reservationExpired = (device: Device, now: Date): boolean => {
  const until = device.certificate?.reservedUntil;
  return device.state === "PROVISIONING" && until !== undefined && Date.parse(until) <= now.getTime();
};
