import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { RecallMessage, RecallQueue } from "#app/ports.js";
import { call } from "./aws-errors.js";

/**
 * The recall queue over SQS. One message at a time: a recall queues its first page, and each page
 * the next, so there is never a batch to send.
 */
export const sqsRecallQueue = (sqs: SQSClient, queueUrl: string): RecallQueue => ({
  async enqueue(message) {
    await call("SendMessage", () =>
      sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(message) })),
    );
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
