import type { Recall } from "#domain/batch.js";
import { IllegalTransitionError, NotFoundError, ValidationError } from "#domain/errors.js";
import { type BatchId, isBatchId } from "#domain/ids.js";
import { canTransition } from "#domain/lifecycle.js";
import { type OperationDeps, operateDevice } from "./operate-device.js";
import type { Clock, LifecycleStore, RecallMessage, RecallQueue } from "./ports.js";

export interface RecallDeps {
  readonly store: LifecycleStore;
  readonly queue: RecallQueue;
  readonly clock: Clock;
}

// Devices per page: a page is one worker's unit of paced work (a few seconds at IoT's pace).
const DEVICES_PER_PAGE = 25;

/**
 * Starts recalling a batch: records the recall and queues its first page. The pages chain from
 * there, so a recall of any size starts in one quick call. Started once; asking again answers
 * with the recall's progress.
 */
export const startRecall = async (
  deps: RecallDeps,
  request: { batchId: string; reason: string; actor: string },
): Promise<Recall> => {
  if (!isBatchId(request.batchId))
    throw new ValidationError(`batch id ${JSON.stringify(request.batchId)} is not valid`);
  const reason = request.reason.trim();
  if (!reason) throw new ValidationError("reason is required to recall a batch");
  const batch = await deps.store.getBatch(request.batchId as BatchId);
  if (!batch) throw new NotFoundError(`batch ${request.batchId} does not exist`);
  if (batch.recall) return batch.recall;

  const recall: Recall = {
    reason,
    requestedBy: request.actor,
    requestedAt: deps.clock.now().toISOString(),
    pagesDone: 0,
  };
  await deps.store.startRecall(batch.batchId, recall);
  await queuePage(deps, { batchId: batch.batchId, page: 0, reason, actor: request.actor }, false);
  return recall;
};

export interface RecallOutcome {
  readonly revoked: number;
  /** Already revoked or decommissioned: nothing left to do for them. */
  readonly skipped: number;
}

/**
 * Revokes one page of a recalled batch's devices, queuing the next page first so two pages can be
 * in flight. Safe to run again: a device already revoked is skipped without a second event, the
 * next page is queued once, and the page is counted done once.
 */
export const recallPage = async (
  deps: OperationDeps & RecallDeps,
  message: RecallMessage,
  redelivered: boolean,
): Promise<RecallOutcome> => {
  const page = await deps.store.pageDevices(
    { batchId: message.batchId },
    { limit: DEVICES_PER_PAGE, ...(message.cursor ? { cursor: message.cursor } : {}) },
  );
  if (page.cursor)
    await queuePage(deps, { ...message, page: message.page + 1, cursor: page.cursor }, redelivered);
  let revoked = 0;
  let skipped = 0;
  for (const device of page.items) {
    if (!canTransition(device.state, "revoke")) {
      skipped += 1;
      continue;
    }
    try {
      await operateDevice(deps, {
        deviceId: device.deviceId,
        action: "revoke",
        reason: `batch ${message.batchId} recalled: ${message.reason}`,
        actor: message.actor,
      });
      revoked += 1;
    } catch (error) {
      // Revoked meanwhile by someone else: the goal is reached.
      if (!(error instanceof IllegalTransitionError)) throw error;
      skipped += 1;
    }
  }
  await deps.store.recallPageDone(message.batchId, message.page, page.cursor === undefined);
  return { revoked, skipped };
};

// A redelivered message queues its next page again even if claimed: the first try may have
// claimed it and crashed before sending. A duplicate page is harmless; a lost one stalls the recall.
const queuePage = async (deps: RecallDeps, message: RecallMessage, redelivered: boolean): Promise<void> => {
  const claimed = await deps.store.claimRecallPage(message.batchId, message.page);
  if (claimed || redelivered) await deps.queue.enqueue([message]);
};
