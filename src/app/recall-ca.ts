import type { Recall } from "#domain/batch.js";
import type { BatchId, CaCertificateId } from "#domain/ids.js";
import type { BatchRecords } from "./ports.js";
import { type RecallDeps, startRecall } from "./recall-batch.js";

export interface CaRecallDeps extends RecallDeps {
  readonly store: RecallDeps["store"] & Pick<BatchRecords, "pageBatches">;
}

export interface CaRecall {
  readonly caCertificateId: CaCertificateId;
  /** Every batch the CA issued, each with its recall (started now, or before). */
  readonly batches: readonly { readonly batchId: BatchId; readonly recall: Recall }[];
}

/**
 * Recalls every device a CA issued (a compromised CA): each of its batches is recalled through the
 * batch recall, paced page by page as any recall is. Asking again starts nothing twice.
 */
export const recallCa = async (
  deps: CaRecallDeps,
  request: { caCertificateId: CaCertificateId; reason: string; actor: string },
): Promise<CaRecall> => {
  const batches: { batchId: BatchId; recall: Recall }[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.pageBatches({ limit: 100, ...(cursor ? { cursor } : {}) });
    for (const batch of page.items) {
      if (batch.caCertificateId !== request.caCertificateId) continue;
      const recall = await startRecall(deps, {
        batchId: batch.batchId,
        reason: request.reason,
        actor: request.actor,
      });
      batches.push({ batchId: batch.batchId, recall });
    }
    cursor = page.cursor;
  } while (cursor);
  return { caCertificateId: request.caCertificateId, batches };
};
