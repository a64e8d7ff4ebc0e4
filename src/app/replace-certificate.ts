import { bindCertificate, type DeviceEvent } from "#domain/device.js";
import { DependencyRejectedError, NotFoundError } from "#domain/errors.js";
import type { CertificateId } from "#domain/ids.js";
import type { ProvisioningDecision } from "#domain/provisioning-decision.js";
import type { CertificateDescription, Clock, DeviceRegistry, ProvisioningLedger } from "./ports.js";

export interface ReplacementDeps {
  readonly registry: DeviceRegistry;
  readonly store: Pick<ProvisioningLedger, "commitReplacement">;
  readonly clock: Clock;
  /** Who provisions: the JITR path or a manifest's pre-registration. */
  readonly actor: string;
}

/**
 * An approved replacement certificate takes over its device's identity. The same safe order as a
 * first provisioning: the new certificate is attached to the device's Thing and activated, then
 * the certificate it replaces is revoked and detached, and the ledger records the swap last. Every
 * step is idempotent, so a redelivery after a crash at any point finishes it: the approval stays
 * until the swap is recorded, and a new certificate found ACTIVE is this replacement's own.
 */
export const replaceCertificate = async (
  deps: ReplacementDeps,
  description: CertificateDescription,
  decision: Extract<ProvisioningDecision, { kind: "replace" }>,
): Promise<{ readonly replaced: CertificateId }> => {
  const { certificateId, certificateArn } = description;
  const { device, approval, facts } = decision;
  const replaced = device.certificate;
  if (!replaced) throw new Error(`device ${device.deviceId} holds no certificate to replace`);
  await deps.registry.attachThingPrincipal(device.deviceId, certificateArn);
  if (description.status !== "ACTIVE") await deps.registry.updateCertificateStatus(certificateId, "ACTIVE");
  await revoke(deps.registry, replaced.certificateId);
  await deps.registry.detachThingPrincipal(device.deviceId, replaced.certificateArn);
  const event: DeviceEvent = {
    deviceId: device.deviceId,
    at: deps.clock.now().toISOString(),
    type: "CERTIFICATE_REPLACED",
    actor: deps.actor,
    from: device.state,
    to: device.state,
    certificateId,
    reason: `replaces certificate ${replaced.certificateId} (now revoked), as approved by ${approval.approvedBy} at ${approval.approvedAt}${approval.reason ? `: ${approval.reason}` : ""}`,
  };
  await deps.store.commitReplacement(
    device,
    bindCertificate(certificateId, certificateArn, facts),
    approval,
    event,
  );
  return { replaced: replaced.certificateId };
};

/** Revokes the replaced certificate; one already revoked, or gone, is done. */
const revoke = async (registry: DeviceRegistry, certificateId: CertificateId): Promise<void> => {
  try {
    await registry.updateCertificateStatus(certificateId, "REVOKED");
  } catch (error) {
    if (error instanceof NotFoundError) return;
    if (!(error instanceof DependencyRejectedError)) throw error;
    // IoT Core may refuse to revoke a revoked certificate again: that is the state wanted.
    const now = await registry.describeCertificate(certificateId).catch(() => undefined);
    if (now?.status !== "REVOKED") throw error;
  }
};
