import type { CertificateRecord } from "#domain/device.js";
import { NotFoundError } from "#domain/errors.js";
import type { CaCertificateId, CertificateId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { describeIfAny } from "./certificate-description.js";
import type { DeviceRegistry, ProvisioningLedger } from "./ports.js";

export interface CertificateView {
  readonly certificateId: CertificateId;
  /** IoT Core's status now; absent when IoT Core no longer has the certificate. */
  readonly status?: CertificateStatus;
  readonly caCertificateId?: CaCertificateId;
  /** What fleetgate decided about it: the device it belongs to, its refusal, or why it waits. */
  readonly record?: CertificateRecord;
}

/**
 * A certificate by its id, which is also its SHA-256 fingerprint: IoT Core's status and fleetgate's
 * record of it. Not found when neither knows it.
 */
export const showCertificate = async (
  deps: {
    readonly store: Pick<ProvisioningLedger, "readProvisioningState">;
    readonly registry: Pick<DeviceRegistry, "describeCertificate">;
  },
  certificateId: CertificateId,
): Promise<CertificateView> => {
  const [{ record }, description] = await Promise.all([
    deps.store.readProvisioningState(certificateId, undefined),
    describeIfAny(deps.registry, certificateId),
  ]);
  if (!record && !description) throw new NotFoundError(`certificate ${certificateId} is unknown here`);
  return {
    certificateId,
    ...(description ? { status: description.status } : {}),
    ...(description?.caCertificateId ? { caCertificateId: description.caCertificateId } : {}),
    ...(record ? { record } : {}),
  };
};
