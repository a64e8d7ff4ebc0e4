import type { Context, SQSRecord } from "aws-lambda";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { DeferredError, deferralDelaySeconds } from "#adapters/back-pressure.js";
import { iotBudget } from "#adapters/iot-budget.js";
import { sqsHandler } from "#adapters/sqs-handler.js";
import { DEFERRALS_ATTRIBUTE, queueUrlOf } from "#adapters/sqs-requeue.js";
import { logger } from "#adapters/telemetry.js";
import { DependencyUnavailableError } from "#domain/errors.js";
import { sqsEvent } from "#local/iot-simulator.js";
import { InMemoryScheduleStore } from "#test/support/in-memory-schedules.js";

beforeAll(() => logger.setLogLevel("SILENT"));
beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A Lambda context whose remaining time runs down with the (virtual) clock. */
const lambdaContext = (timeoutMs = 30_000): Context => {
  const end = Date.now() + timeoutMs;
  return {
    functionName: "jitr",
    awsRequestId: "request",
    getRemainingTimeInMillis: () => end - Date.now(),
  } as unknown as Context;
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const invoke = async (
  processRecord: (record: SQSRecord) => Promise<void>,
  bodies: object[],
  requeue = vi.fn(async (_record: SQSRecord, _delaySeconds: number, _deferrals: number) => undefined),
) => {
  const handler = sqsHandler(processRecord, { requeue: { requeue } });
  const event = sqsEvent(bodies);
  const answer = handler(event, lambdaContext());
  await vi.runAllTimersAsync();
  return { answer: await answer, requeue, event, finishedAt: Date.now() };
};

const ids = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i }));

describe("the SQS handler", () => {
  it("runs the records of a batch concurrently", async () => {
    const started = Date.now();
    const { answer, finishedAt } = await invoke(() => sleep(1000), ids(10));
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(finishedAt - started).toBe(1000);
  });

  it("re-queues a record the IoT budget defers, with a delay until it can be served, and reports it done", async () => {
    const notBefore = Date.now() + 40_000;
    const { answer, requeue, event } = await invoke(async () => {
      throw new DeferredError("no slot", notBefore);
    }, ids(1));

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(requeue).toHaveBeenCalledTimes(1);
    const [record, delaySeconds, deferrals] = requeue.mock.calls[0] ?? [];
    expect(record).toBe(event.Records[0]);
    expect(delaySeconds).toBeGreaterThanOrEqual(40);
    expect(deferrals).toBe(1);
  });

  it("backs off by the deferrals a record carries: waiting for an hour costs a device a few re-queues", () => {
    const now = 0;
    const never = () => 0;
    expect(deferralDelaySeconds(now, now, 0, never)).toBe(2);
    expect(deferralDelaySeconds(now, now, 3, never)).toBe(16);
    expect(deferralDelaySeconds(now, now, 20, never)).toBe(300);
    expect(deferralDelaySeconds(now + 1_000_000, now, 0, never)).toBe(900);
  });

  it("counts the deferral on the message it re-queues", async () => {
    const requeue = vi.fn(async (_record: SQSRecord, _delaySeconds: number, _deferrals: number) => undefined);
    const handler = sqsHandler(
      async () => {
        throw new DeferredError("no slot", 0);
      },
      { requeue: { requeue } },
    );
    const event = sqsEvent([{ id: 1 }]);
    const record = event.Records[0] as SQSRecord;
    record.messageAttributes[DEFERRALS_ATTRIBUTE] = {
      dataType: "Number",
      stringValue: "4",
    } as SQSRecord["messageAttributes"][string];
    const answer = handler(event, lambdaContext());
    await vi.runAllTimersAsync();
    await answer;
    expect(requeue.mock.calls.at(-1)?.[2]).toBe(5);
    expect(requeue.mock.calls.at(-1)?.[1]).toBeGreaterThanOrEqual(32);
  });

  it("fails a record whose re-queue fails, for SQS to deliver it again", async () => {
    const requeue = vi.fn(async () => {
      throw new DependencyUnavailableError("SendMessage: outage");
    });
    const { answer, event } = await invoke(
      async () => {
        throw new DeferredError("no slot", 0);
      },
      ids(1),
      requeue,
    );
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[0]?.messageId }] });
  });

  it("answers only the records that failed: not the deferred ones, not those that succeeded", async () => {
    const { answer, event, requeue } = await invoke(async (record) => {
      const { id } = JSON.parse(record.body) as { id: number };
      if (id === 1) throw new DependencyUnavailableError("outage");
      if (id === 2) throw new DeferredError("no slot", 0);
    }, ids(3));
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[1]?.messageId }] });
    expect(requeue).toHaveBeenCalledTimes(1);
  });

  it("defers a record still running when the invocation's window closes, instead of timing out the batch", async () => {
    const started = Date.now();
    const { answer, requeue, finishedAt } = await invoke(async (record) => {
      const { id } = JSON.parse(record.body) as { id: number };
      if (id === 0) await new Promise(() => undefined);
    }, ids(2));
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(requeue).toHaveBeenCalledTimes(1);
    // 30 s of function timeout, 3 s kept to re-queue and answer.
    expect(finishedAt - started).toBe(27_000);
  });

  it("defers the records whose first IoT call cannot come within the first half of the invocation", async () => {
    // One DescribeCertificate a second (a tenth of the account's quota): 30 records cannot all start.
    const pacer = iotBudget({
      store: new InMemoryScheduleStore(),
      share: 0.1,
      backgroundShare: 0.1,
      priority: "first",
    });
    const { answer, requeue } = await invoke(async () => {
      await pacer.acquire("DescribeCertificate");
      await sleep(100);
    }, ids(30));
    expect(answer).toEqual({ batchItemFailures: [] });
    // Slots at 0, 1, ..., 13 s fit before 13.5 s (half of 30 s less the 3 s reserve).
    expect(requeue).toHaveBeenCalledTimes(16);
  });
});

describe("queueUrlOf", () => {
  it("names a queue's URL from its ARN, as SQS does", () => {
    expect(queueUrlOf("arn:aws:sqs:eu-west-1:123456789012:fleetgate-prod-jitr")).toBe(
      "https://sqs.eu-west-1.amazonaws.com/123456789012/fleetgate-prod-jitr",
    );
    expect(queueUrlOf("arn:aws-cn:sqs:cn-north-1:123456789012:q")).toBe(
      "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
    );
  });
});
