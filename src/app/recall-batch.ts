import type { Recall, RecallFailure } from "#domain/batch.js";
import type { Device } from "#domain/device.js";
import {
  AlreadyExistsError,
  ConfigurationError,
  DomainError,
  IllegalTransitionError,
  NotFoundError,
  ValidationError,
} from "#domain/errors.js";
import type { BatchId } from "#domain/ids.js";
import { canTransition } from "#domain/lifecycle.js";
import { type OperationDeps, revokeDevice } from "./operate-device.js";
import type {
  BatchRecords,
  Clock,
  DeviceLedger,
  RecallMessage,
  RecallProgress,
  RecallQueue,
} from "./ports.js";

export interface RecallDeps {
  readonly store: RecallProgress & Pick<BatchRecords, "getBatch"> & Pick<DeviceLedger, "pageDevices">;
  readonly queue: RecallQueue;
  readonly clock: Clock;
}

// Devices per page: a page is one worker's unit of paced work (a few seconds at IoT's pace).
const DEVICES_PER_PAGE = 25;

/**
 * Starts recalling a batch: records the recall and queues its first page. The pages chain from
 * there, so a recall of any size starts in one quick call. Started once; asking again answers
 * with the recall's progress, and sends the first page again while no page is done: the first try
 * may have recorded the recall and failed to queue it. A duplicate page is harmless.
 */
export const startRecall = async (
  deps: RecallDeps,
  request: { batchId: BatchId; reason: string; actor: string },
): Promise<Recall> => {
  const reason = request.reason.trim();
  if (!reason) throw new ValidationError("reason is required to recall a batch");
  const batch = await deps.store.getBatch(request.batchId);
  if (!batch) throw new NotFoundError(`batch ${request.batchId} does not exist`);
  const recall = batch.recall ?? (await recordRecall(deps, batch.batchId, reason, request.actor));
  if (recall.pagesDone === 0) {
    await queuePage(
      deps,
      { batchId: batch.batchId, page: 0, reason: recall.reason, actor: recall.requestedBy },
      batch.recall !== undefined,
    );
  }
  return recall;
};

const recordRecall = async (deps: RecallDeps, batchId: BatchId, reason: string, actor: string) => {
  const recall: Recall = {
    reason,
    requestedBy: actor,
    requestedAt: deps.clock.now().toISOString(),
    pagesDone: 0,
    failures: [],
  };
  try {
    await deps.store.startRecall(batchId, recall);
    return recall;
  } catch (error) {
    // Two requests at once: the other one's recall stands, and this one answers with it.
    const started = error instanceof AlreadyExistsError && (await deps.store.getBatch(batchId))?.recall;
    if (!started) throw error;
    return started;
  }
};

export interface RecallOutcome {
  readonly revoked: number;
  /** Already revoked or decommissioned: nothing left to do for them. */
  readonly skipped: number;
  /** Recorded on the recall as not revoked. */
  readonly failed: number;
}

/** How often the queue delivered a page's message, this time included. */
export interface Delivery {
  readonly receiveCount: number;
}

// The delivery that records what still fails transiently as failed, one before the queue gives up
// on a message (maxReceiveCount 5): a device that never succeeds cannot keep its page, or the
// recall, from finishing.
const LAST_TRY = 4;

/**
 * Revokes one page of a recalled batch's devices, queuing the next page first so two pages can be
 * in flight. Each device succeeds or fails on its own: one IoT Core refuses for good is recorded on
 * the recall as failed; one that fails transiently fails the page after the others are done, so the
 * queue delivers it again and only what is left is retried (a revoked device is skipped, without a
 * second event). Our own configuration at fault fails the page as it is, for the queue to keep.
 */
export const recallPage = async (
  deps: OperationDeps & RecallDeps,
  message: RecallMessage,
  delivery: Delivery,
): Promise<RecallOutcome> => {
  const page = await deps.store.pageDevices(
    { batchId: message.batchId },
    { limit: DEVICES_PER_PAGE, ...(message.cursor ? { cursor: message.cursor } : {}) },
  );
  if (page.cursor)
    await queuePage(
      deps,
      { ...message, page: message.page + 1, cursor: page.cursor },
      delivery.receiveCount > 1,
    );
  let revoked = 0;
  let skipped = 0;
  const failures: RecallFailure[] = [];
  const transient: unknown[] = [];
  for (const device of page.items) {
    const result = await revokeForRecall(deps, message, device);
    if (result === "revoked") revoked += 1;
    else if (result === "skipped") skipped += 1;
    else if (isTransient(result.error) && delivery.receiveCount < LAST_TRY) transient.push(result.error);
    else failures.push({ deviceId: device.deviceId, page: message.page, reason: describe(result.error) });
  }
  if (transient.length > 0) throw transient[0];
  await deps.store.recallPageDone(message.batchId, message.page, page.cursor === undefined, failures);
  return { revoked, skipped, failed: failures.length };
};

const revokeForRecall = async (
  deps: OperationDeps,
  message: RecallMessage,
  device: Device,
): Promise<"revoked" | "skipped" | { error: unknown }> => {
  if (!canTransition(device.state, "revoke")) return "skipped";
  try {
    await revokeDevice(deps, {
      deviceId: device.deviceId,
      reason: `batch ${message.batchId} recalled: ${message.reason}`,
      actor: message.actor,
    });
    return "revoked";
  } catch (error) {
    // Revoked meanwhile by someone else: the goal is reached.
    if (error instanceof IllegalTransitionError) return "skipped";
    // Every device would fail the same way: the page waits in the queue until it is fixed.
    if (error instanceof ConfigurationError) throw error;
    return { error };
  }
};

// What is not known to be permanent may pass (as the AWS error mapping decides).
const isTransient = (error: unknown): boolean => !(error instanceof DomainError) || error.transient;

const describe = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).slice(0, 300);

// A redelivered message queues its next page again even if claimed: the first try may have
// claimed it and crashed before sending. A duplicate page is harmless; a lost one stalls the recall.
const queuePage = async (deps: RecallDeps, message: RecallMessage, again: boolean): Promise<void> => {
  const claimed = await deps.store.claimRecallPage(message.batchId, message.page);
  if (claimed || again) await deps.queue.enqueue(message);
};
