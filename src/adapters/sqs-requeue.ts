import { type MessageAttributeValue, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { call } from "./aws-errors.js";

/** How many times a message was deferred, carried on the message it is re-queued as. */
export const DEFERRALS_ATTRIBUTE = "fleetgate-deferrals";
/** When the first message of the chain was sent (epoch ms): how long the work has waited in all. */
export const FIRST_SENT_ATTRIBUTE = "fleetgate-first-sent";

export const deferralsOf = (record: SQSRecord): number => {
  const value = Number(record.messageAttributes?.[DEFERRALS_ATTRIBUTE]?.stringValue);
  return Number.isInteger(value) && value > 0 ? value : 0;
};

export const firstSentOf = (record: SQSRecord): number => {
  const carried = Number(record.messageAttributes?.[FIRST_SENT_ATTRIBUTE]?.stringValue);
  return Number.isFinite(carried) && carried > 0 ? carried : Number(record.attributes.SentTimestamp);
};

/** A queue's URL from its ARN (arn:<partition>:sqs:<region>:<account>:<name>), as SQS names it. */
export const queueUrlOf = (queueArn: string): string => {
  const [, partition, , region, account, name] = queueArn.split(":");
  if (!partition || !region || !account || !name) throw new Error(`not a queue ARN: ${queueArn}`);
  const domain = partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  return `https://sqs.${region}.${domain}/${account}/${name}`;
};

/**
 * Re-queues a record as a new message of its own queue (`queueUrl`, or the one its ARN names), delayed: work that back-pressure deferred
 * comes back then with its receive count fresh, so waiting for the quota never spends one of the
 * receives that lead to the dead-letter queue. The body is unchanged; the deferral count and the
 * first send time ride along as message attributes (the record's own string and number attributes
 * are kept).
 */
export const sqsRequeue = (sqs: SQSClient, queueUrl?: string) => ({
  async requeue(record: SQSRecord, delaySeconds: number, deferrals: number): Promise<void> {
    const kept: Record<string, MessageAttributeValue> = {};
    for (const [name, value] of Object.entries(record.messageAttributes ?? {})) {
      if (value.stringValue !== undefined && (value.dataType === "String" || value.dataType === "Number"))
        kept[name] = { DataType: value.dataType, StringValue: value.stringValue };
    }
    await call("SendMessage", () =>
      sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl ?? queueUrlOf(record.eventSourceARN),
          MessageBody: record.body,
          DelaySeconds: delaySeconds,
          MessageAttributes: {
            ...kept,
            [DEFERRALS_ATTRIBUTE]: { DataType: "Number", StringValue: String(deferrals) },
            [FIRST_SENT_ATTRIBUTE]: { DataType: "Number", StringValue: String(firstSentOf(record)) },
          },
        }),
      ),
    );
  },
});

export type Requeue = ReturnType<typeof sqsRequeue>;
