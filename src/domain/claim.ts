import type { BatchId, CertificateId } from "./ids.js";

/**
 * A claim certificate fleetgate issued for fleet provisioning, and the batches whose devices it may
 * provision: a factory's claim cannot enrol another factory's devices. Kept in the lifecycle table,
 * where the pre-provisioning hook reads it with the allowlist entry in one request.
 */
export interface ClaimBinding {
  readonly claimCertificateId: CertificateId;
  readonly certificateArn: string;
  readonly batchIds: readonly BatchId[];
  readonly createdAt: string;
  readonly createdBy: string;
  /** Set when the claim was revoked: it provisions nothing any more, and its record stays for audit. */
  readonly revoked?: { readonly at: string; readonly by: string; readonly reason: string };
}
