import type { Recall } from "#domain/batch.js";
import { IllegalTransitionError, NotFoundError, ValidationError } from "#domain/errors.js";
import { type BatchId, type DeviceId, isBatchId } from "#domain/ids.js";
import { canTransition } from "#domain/lifecycle.js";
import { type OperationDeps, operateDevice } from "./operate-device.js";
import type { Clock, LifecycleStore, RecallMessage, RecallQueue } from "./ports.js";

export interface RecallDeps {
  readonly store: LifecycleStore;
  readonly queue: RecallQueue;
  readonly clock: Clock;
}

// Devices per queue message: a message is one worker's unit of paced work.
const DEVICES_PER_MESSAGE = 25;
const PAGE = 100;

/**
 * Starts recalling a batch: records the recall on the batch, then queues every device of the
 * batch for revocation. Started once; asking again answers with the recall's progress.
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
  // A recall is started once; asking again answers with its progress.
  if (batch.recall) return batch.recall;

  const deviceIds: DeviceId[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.pageDevices(
      { batchId: batch.batchId },
      { limit: PAGE, ...(cursor ? { cursor } : {}) },
    );
    deviceIds.push(...page.items.map((device) => device.deviceId));
    cursor = page.cursor;
  } while (cursor);

  const messages: RecallMessage[] = [];
  for (let start = 0; start < deviceIds.length; start += DEVICES_PER_MESSAGE) {
    messages.push({
      batchId: batch.batchId,
      chunk: messages.length,
      deviceIds: deviceIds.slice(start, start + DEVICES_PER_MESSAGE),
      reason,
      actor: request.actor,
    });
  }
  const recall: Recall = {
    reason,
    requestedBy: request.actor,
    requestedAt: deps.clock.now().toISOString(),
    devices: deviceIds.length,
    chunks: messages.length,
    chunksDone: 0,
  };
  await deps.store.startRecall(batch.batchId, recall);
  await deps.queue.enqueue(messages);
  return recall;
};

export interface RecallOutcome {
  readonly revoked: number;
  /** Already revoked or decommissioned: nothing left to do for them. */
  readonly skipped: number;
}

/**
 * Revokes the devices of one recall message. Safe to run again: a device already revoked counts
 * as done without a second event, and the message's chunk is counted done once.
 */
export const recallDevices = async (
  deps: OperationDeps & { store: LifecycleStore },
  message: RecallMessage,
): Promise<RecallOutcome> => {
  let revoked = 0;
  let skipped = 0;
  for (const deviceId of message.deviceIds) {
    const device = await deps.store.getDevice(deviceId);
    if (!device || !canTransition(device.state, "revoke")) {
      skipped += 1;
      continue;
    }
    try {
      await operateDevice(deps, {
        deviceId,
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
  await deps.store.recallChunkDone(message.batchId, message.chunk);
  return { revoked, skipped };
};
