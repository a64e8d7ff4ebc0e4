import type { ClaimBinding } from "#domain/claim.js";
import { NotFoundError, ValidationError } from "#domain/errors.js";
import { BATCH_ID_RULE, type BatchId, type CertificateId, isBatchId } from "#domain/ids.js";
import type {
  BatchRecords,
  ClaimIssuer,
  ClaimRegistry,
  Clock,
  DeviceRegistry,
  IssuedCertificate,
  Page,
  PolicyRegistry,
} from "./ports.js";

/**
 * Claim certificates for fleet provisioning, made and revoked by an operator for a factory or an
 * installer app: each is bound to the batches whose devices it may provision, and carries the
 * deployment's claim policy (the fleet provisioning topics of its template, nothing else).
 */
export interface ClaimDeps {
  readonly issuer: ClaimIssuer;
  readonly policies: Pick<PolicyRegistry, "attachPolicy" | "detachPolicy">;
  readonly registry: Pick<DeviceRegistry, "updateCertificateStatus">;
  readonly claims: ClaimRegistry;
  readonly batches: Pick<BatchRecords, "getBatch">;
  readonly clock: Clock;
  /** The deployment's claim policy (the stack's ClaimPolicyName output). */
  readonly claimPolicyName: string;
}

export interface NewClaim {
  readonly batchIds: readonly string[];
  /** The operator's CSR: the claim's key stays where it was made. Absent, IoT Core makes the key. */
  readonly csrPem?: string;
  readonly actor: string;
}

export type IssuedClaim = ClaimBinding & Pick<IssuedCertificate, "certificatePem" | "privateKeyPem">;

/**
 * Makes a claim: its certificate INACTIVE, the claim policy attached, the binding recorded, and
 * only then ACTIVE, so a claim half made (an interrupted command) can never connect.
 */
export const createClaim = async (deps: ClaimDeps, request: NewClaim): Promise<IssuedClaim> => {
  const batchIds = await knownBatches(deps, request.batchIds);
  const issued = await deps.issuer.createCertificate(request.csrPem);
  await deps.policies.attachPolicy(deps.claimPolicyName, issued.certificateArn);
  const binding: ClaimBinding = {
    claimCertificateId: issued.certificateId,
    certificateArn: issued.certificateArn,
    batchIds,
    createdAt: deps.clock.now().toISOString(),
    createdBy: request.actor,
  };
  await deps.claims.bindClaim(binding);
  await deps.registry.updateCertificateStatus(issued.certificateId, "ACTIVE");
  return {
    ...binding,
    certificatePem: issued.certificatePem,
    ...(issued.privateKeyPem ? { privateKeyPem: issued.privateKeyPem } : {}),
  };
};

const knownBatches = async (deps: ClaimDeps, given: readonly string[]): Promise<BatchId[]> => {
  const batchIds = [...new Set(given)];
  if (batchIds.length === 0) throw new ValidationError("a claim needs at least one batch (--batch <id>)");
  const malformed = batchIds.filter((id) => !isBatchId(id));
  if (malformed.length > 0)
    throw new ValidationError(
      `batch ids must be ${BATCH_ID_RULE}: ${malformed.map((id) => JSON.stringify(id)).join(", ")}`,
    );
  const records = await Promise.all(batchIds.map((id) => deps.batches.getBatch(id as BatchId)));
  const unknown = batchIds.filter((_, index) => records[index] === undefined);
  if (unknown.length > 0)
    throw new ValidationError(
      `no batch ${unknown.join(", ")}: register its manifest first (fleetgate batch register)`,
    );
  return batchIds as BatchId[];
};

/**
 * Revokes a claim: its binding first (the hook denies it from then on), then its certificate
 * (IoT Core refuses its connections), then the claim policy is detached (so the deployment's
 * policy can be deleted with its stack). Running it again finishes what an interruption left.
 */
export const revokeClaim = async (
  deps: ClaimDeps,
  claimCertificateId: CertificateId,
  request: { readonly reason: string; readonly actor: string },
): Promise<ClaimBinding> => {
  const claim = await deps.claims.getClaim(claimCertificateId);
  if (!claim) throw new NotFoundError(`no claim ${claimCertificateId}: fleetgate claim list shows them`);
  const revoked = claim.revoked ?? {
    at: deps.clock.now().toISOString(),
    by: request.actor,
    reason: request.reason,
  };
  if (!claim.revoked) await deps.claims.revokeClaim(claimCertificateId, revoked);
  try {
    await deps.registry.updateCertificateStatus(claimCertificateId, "REVOKED");
  } catch (error) {
    // A certificate IoT Core no longer has cannot connect either.
    if (!(error instanceof NotFoundError)) throw error;
  }
  await deps.policies.detachPolicy(deps.claimPolicyName, claim.certificateArn);
  return { ...claim, revoked };
};

export const listClaims = (
  deps: Pick<ClaimDeps, "claims">,
  options: { limit: number; cursor?: string },
): Promise<Page<ClaimBinding>> => deps.claims.pageClaims(options);
