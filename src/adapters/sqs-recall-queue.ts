import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { RecallMessage, RecallQueue } from "#app/ports.js";
import { DependencyUnavailableError } from "#domain/errors.js";
import { call } from "./aws-errors.js";

const SQS_BATCH = 10;
const MAX_ATTEMPTS = 5;

/** The recall queue over SQS: messages go out ten at a time, failed entries are sent again. */
export const sqsRecallQueue = (sqs: SQSClient, queueUrl: string): RecallQueue => ({
  async enqueue(messages) {
    for (let start = 0; start < messages.length; start += SQS_BATCH) {
      let pending = messages
        .slice(start, start + SQS_BATCH)
        .map((message, index) => ({ id: String(index), message }));
      for (let attempt = 1; pending.length > 0; attempt += 1) {
        if (attempt > MAX_ATTEMPTS)
          throw new DependencyUnavailableError(
            `SendMessageBatch: ${pending.length} recall messages not sent`,
          );
        const out = await call("SendMessageBatch", () =>
          sqs.send(
            new SendMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: pending.map(({ id, message }) => ({ Id: id, MessageBody: JSON.stringify(message) })),
            }),
          ),
        );
        const failed = new Set((out.Failed ?? []).map((entry) => entry.Id));
        pending = pending.filter(({ id }) => failed.has(id));
      }
    }
  },
});

export const parseRecallMessage = (body: string): RecallMessage | undefined => {
  try {
    const value = JSON.parse(body) as RecallMessage;
    const valid =
      typeof value.batchId === "string" &&
      Number.isInteger(value.page) &&
      (value.cursor === undefined || typeof value.cursor === "string") &&
      typeof value.reason === "string" &&
      typeof value.actor === "string";
    return valid ? value : undefined;
  } catch {
    return undefined;
  }
};
