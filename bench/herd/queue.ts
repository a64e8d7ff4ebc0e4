import { createHash, randomUUID } from "node:crypto";
import type { SQSRecord } from "aws-lambda";

/**
 * An SQS standard queue with its dead-letter queue, as the Lambda event source uses it: messages
 * become visible after their delay, a receive hides them for the visibility timeout and counts the
 * receive, a receive beyond `maxReceiveCount` moves the message to the dead-letter queue instead,
 * and a deleted message is gone. Also SQS's SendMessage API (JSON protocol) as a request handler
 * for the functions' SQS clients, for the records they re-queue.
 */
export interface Message {
  readonly messageId: string;
  readonly body: string;
  readonly attributes: Record<string, { DataType: string; StringValue?: string }>;
  readonly sentAt: number;
  visibleAt: number;
  receiveCount: number;
  receiptHandle?: string;
}

/** A binary min-heap on visibleAt. */
class Heap {
  private readonly items: Message[] = [];
  get size() {
    return this.items.length;
  }
  peek(): Message | undefined {
    return this.items[0];
  }
  push(message: Message): void {
    const items = this.items;
    items.push(message);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((items[parent] as Message).visibleAt <= message.visibleAt) break;
      items[i] = items[parent] as Message;
      i = parent;
    }
    items[i] = message;
  }
  pop(): Message | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= items.length) break;
        const right = left + 1;
        const child =
          right < items.length && (items[right] as Message).visibleAt < (items[left] as Message).visibleAt
            ? right
            : left;
        if ((items[child] as Message).visibleAt >= last.visibleAt) break;
        items[i] = items[child] as Message;
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
}

export class SimQueue {
  /** Messages not visible yet (delayed, or received and not deleted), by when they become visible. */
  private readonly hidden = new Heap();
  /** Visible messages, oldest first. */
  private visible: Message[] = [];
  private head = 0;
  /** Received and not deleted, by receipt handle. */
  private readonly inFlight = new Map<string, Message>();
  readonly deadLetters: Message[] = [];
  sent = 0;
  received = 0;
  private waiters: (() => void)[] = [];

  constructor(
    readonly arn: string,
    readonly url: string,
    private readonly visibilityMs: number,
    private readonly maxReceiveCount: number,
  ) {}

  send(body: string, delaySeconds = 0, attributes: Message["attributes"] = {}): string {
    const now = Date.now();
    const message: Message = {
      messageId: randomUUID(),
      body,
      attributes,
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
    };
    this.sent += 1;
    if (delaySeconds > 0) this.hidden.push(message);
    else this.visible.push(message);
    this.wake();
    return message.messageId;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Moves what became visible by now; answers when the next hidden message becomes visible. */
  private reveal(now: number): number | undefined {
    for (;;) {
      const next = this.hidden.peek();
      if (!next || next.visibleAt > now) return next?.visibleAt;
      this.hidden.pop();
      // A deleted message left the in-flight map: its stale heap entry is dropped here.
      if (next.receiptHandle !== undefined && !this.inFlight.has(next.receiptHandle)) continue;
      if (next.receiptHandle !== undefined) this.inFlight.delete(next.receiptHandle);
      next.receiptHandle = undefined;
      this.visible.push(next);
    }
  }

  get visibleCount(): number {
    this.reveal(Date.now());
    return this.visible.length - this.head;
  }

  /** Messages not deleted and not dead-lettered. */
  get depth(): number {
    return this.visible.length - this.head + this.hidden.size;
  }

  /** Waits until a message is visible (long polling), or until `timeoutMs`. */
  async waitVisible(timeoutMs: number): Promise<void> {
    if (this.visibleCount > 0) return;
    const nextAt = this.reveal(Date.now());
    const wait = Math.min(timeoutMs, nextAt === undefined ? timeoutMs : nextAt - Date.now());
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, wait));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Waits for a message to arrive or become visible, or until `timeoutMs`. */
  async waitChange(timeoutMs: number): Promise<void> {
    const nextAt = this.reveal(Date.now());
    const wait = Math.min(timeoutMs, nextAt === undefined ? timeoutMs : Math.max(1, nextAt - Date.now()));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, wait));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  receive(max: number): Message[] {
    const now = Date.now();
    this.reveal(now);
    const batch: Message[] = [];
    while (batch.length < max && this.head < this.visible.length) {
      const message = this.visible[this.head] as Message;
      this.head += 1;
      if (message.receiveCount >= this.maxReceiveCount) {
        this.deadLetters.push(message);
        continue;
      }
      message.receiveCount += 1;
      message.receiptHandle = randomUUID();
      message.visibleAt = now + this.visibilityMs;
      this.inFlight.set(message.receiptHandle, message);
      this.hidden.push(message);
      batch.push(message);
    }
    if (this.head > 4096 && this.head * 2 > this.visible.length) {
      this.visible = this.visible.slice(this.head);
      this.head = 0;
    }
    this.received += batch.length;
    return batch;
  }

  delete(message: Message): void {
    if (message.receiptHandle) this.inFlight.delete(message.receiptHandle);
  }

  /** The record Lambda hands the function for a received message. */
  record(message: Message): SQSRecord {
    return {
      messageId: message.messageId,
      receiptHandle: message.receiptHandle ?? "",
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.sentAt),
        SenderId: "AIDAIOTCORE",
        ApproximateFirstReceiveTimestamp: String(message.sentAt),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(message.attributes).map(([name, value]) => [
          name,
          {
            dataType: value.DataType,
            ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
            stringListValues: [],
            binaryListValues: [],
          },
        ]),
      ),
      md5OfBody: createHash("md5").update(message.body).digest("hex"),
      eventSource: "aws:sqs",
      eventSourceARN: this.arn,
      awsRegion: "us-east-1",
    };
  }
}

/** SQS's SendMessage, for the functions' SQS clients (each container's), over the queues given. */
export const sqsRequestHandler = (
  queues: readonly SimQueue[],
  latencyMs: number,
  stats: { sends: number; delays?: number[] },
) => ({
  handle: async (request: { headers: Record<string, string>; body?: unknown }) => {
    await new Promise((resolve) => setTimeout(resolve, latencyMs / 2));
    const target = request.headers["x-amz-target"] ?? request.headers["X-Amz-Target"];
    const text =
      request.body instanceof Uint8Array
        ? Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength).toString("utf8")
        : String(request.body ?? "{}");
    const input = JSON.parse(text) as {
      QueueUrl: string;
      MessageBody: string;
      DelaySeconds?: number;
      MessageAttributes?: Message["attributes"];
    };
    const queue = queues.find((q) => q.url === input.QueueUrl);
    let body: unknown;
    let statusCode = 200;
    if (target !== "AmazonSQS.SendMessage" || !queue) {
      statusCode = 400;
      body = { __type: "com.amazonaws.sqs#InvalidAddress", message: `${target} ${input.QueueUrl}` };
    } else {
      stats.sends += 1;
      stats.delays?.push(input.DelaySeconds ?? 0);
      const messageId = queue.send(input.MessageBody, input.DelaySeconds ?? 0, input.MessageAttributes ?? {});
      body = {
        MessageId: messageId,
        MD5OfMessageBody: createHash("md5").update(input.MessageBody).digest("hex"),
      };
    }
    await new Promise((resolve) => setTimeout(resolve, latencyMs / 2));
    return {
      response: {
        statusCode,
        headers: { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": randomUUID() },
        body: Buffer.from(JSON.stringify(body)),
      },
    };
  },
  updateHttpClientConfig: () => undefined,
  httpHandlerConfigs: () => ({}),
  destroy: () => undefined,
});
