import type { BatchRecord } from "#domain/batch.js";
import { NotFoundError } from "#domain/errors.js";
import type { BatchId } from "#domain/ids.js";
import type { BatchRecords, Page } from "./ports.js";

type Deps = { readonly store: Pick<BatchRecords, "getBatch" | "pageBatches"> };

/** A batch's record: digest, counts, state, first issues, recall progress. */
export const showBatch = async (deps: Deps, batchId: BatchId): Promise<BatchRecord> => {
  const batch = await deps.store.getBatch(batchId);
  if (!batch) throw new NotFoundError(`batch ${batchId} does not exist`);
  return batch;
};

/** Batches, most recent first, a page at a time. */
export const listBatches = (
  deps: Deps,
  page: { readonly limit: number; readonly cursor?: string },
): Promise<Page<BatchRecord>> => deps.store.pageBatches(page);
