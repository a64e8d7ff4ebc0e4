import type { BatchRecord } from "#domain/batch.js";
import { AlreadyExistsError, ConflictError, ValidationError } from "#domain/errors.js";
import { type BatchId, type CaCertificateId, isBatchId } from "#domain/ids.js";
import { preRegisterCertificates } from "./pre-register.js";
import type { ProvisioningDeps } from "./provision-certificate.js";
import { type BatchDeps, type BatchResult, registerBatch } from "./register-batch.js";

export interface UploadedManifest {
  readonly source: string;
  readonly open: () => AsyncIterable<Uint8Array>;
  /** None for a batch born only through fleet provisioning. */
  readonly caCertificateId?: string;
  readonly batchId: string;
  readonly signature?: string;
  readonly actor: string;
}

export type IngestOutcome =
  | { readonly kind: "registered"; readonly result: BatchResult }
  | { readonly kind: "refused"; readonly batch: BatchRecord };

/**
 * Registers a manifest uploaded to S3. A manifest refused whole (unreadable, unsigned, badly
 * signed, under a CA that cannot serve) leaves a FAILED batch record saying why, under the batch
 * id its upload ticket named, so the uploader finds the reason where it looks for the result. One
 * that contradicts the batch already under that id (another manifest, another CA) is refused
 * without retries, and the batch stays as it was.
 */
export const ingestUpload = async (
  deps: BatchDeps & { provisioning: ProvisioningDeps },
  upload: UploadedManifest,
): Promise<IngestOutcome> => {
  try {
    const result = await registerBatch(deps, {
      ...upload,
      preRegister: (caCertificateId, certificates) =>
        preRegisterCertificates(deps.provisioning, caCertificateId, certificates),
    });
    return { kind: "registered", result };
  } catch (error) {
    // A refusal of the manifest itself ends here: retrying cannot change it. Anything else is retried.
    const refused =
      error instanceof ValidationError ||
      error instanceof ConflictError ||
      error instanceof AlreadyExistsError;
    if (!refused || !isBatchId(upload.batchId)) throw error;
    const now = deps.clock.now().toISOString();
    const batch: BatchRecord = {
      batchId: upload.batchId as BatchId,
      ...(upload.caCertificateId ? { caCertificateId: upload.caCertificateId as CaCertificateId } : {}),
      manifestSha256: "",
      source: upload.source,
      state: "FAILED",
      registeredBy: upload.actor,
      registeredAt: now,
      updatedAt: now,
      error:
        error instanceof ValidationError && error.issues.length > 0
          ? `${error.message}: ${error.issues.join("; ")}`
          : error.message,
    };
    try {
      await deps.store.createBatch(batch);
    } catch (existing) {
      // The batch id is taken: a redelivered event recorded the refusal already, or a real batch has it.
      if (!(existing instanceof AlreadyExistsError)) throw existing;
    }
    return { kind: "refused", batch };
  }
};
