import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import middy from "@middy/core";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { sqsClient } from "./aws-clients.js";
import { DeferredError, deferralDelaySeconds, invocationWindow, withinWindow } from "./back-pressure.js";
import { realTimer, type Timer } from "./iot-quotas.js";
import { deferralsOf, type Requeue, sqsRequeue } from "./sqs-requeue.js";
import { logger, metrics, publishMetrics } from "./telemetry.js";

export interface SqsHandlerOptions {
  /** The queue deferred records go back to; by default the one each record's ARN names. */
  readonly queueUrl?: string;
  /** How deferred records are re-queued (tests); by default SQS SendMessage with a delay. */
  readonly requeue?: Pick<Requeue, "requeue">;
  /** Kept at the end of each invocation to re-queue what is left, in ms. */
  readonly reserveMs?: number;
  /** Share of the invocation (after the reserve) within which a record's first IoT call must come. */
  readonly startShare?: number;
  readonly timer?: Timer;
}

const DEFAULT_RESERVE_MS = 3_000;
const DEFAULT_START_SHARE = 0.5;

/**
 * A Lambda handler for an SQS event source. The records of a batch run concurrently, each within
 * the invocation's window (back-pressure.ts): its first paced IoT call must come within the first
 * half of the invocation, every call before the reserve at its end. A record the IoT budget cannot
 * serve in time, or still running when the window closes, is deferred: re-queued as a new message
 * with a delay (its receive count starts again) and reported done. Only a record that failed is
 * answered in `batchItemFailures`, for SQS to deliver again and, after its receives, keep in the
 * dead-letter queue: waiting for the quota never takes a device there, and a record not attempted
 * is never failed.
 */
export const sqsHandler = (
  processRecord: (record: SQSRecord) => Promise<void>,
  options: SqsHandlerOptions = {},
) => {
  const processor = new BatchProcessor(EventType.SQS);
  const timer = options.timer ?? realTimer;
  let requeue = options.requeue;
  const requeueOf = () => {
    requeue ??= sqsRequeue(sqsClient(), options.queueUrl);
    return requeue;
  };

  const processWithin = async (record: SQSRecord, window: Window | undefined): Promise<void> => {
    if (!window) return processRecord(record);
    try {
      await bounded(window.finishBy, timer, () => withinWindow(window, () => processRecord(record)));
    } catch (error) {
      if (!(error instanceof DeferredError)) throw error;
      const deferrals = deferralsOf(record);
      const delaySeconds = deferralDelaySeconds(error.notBefore, timer.now(), deferrals);
      await requeueOf().requeue(record, delaySeconds, deferrals + 1);
      logger.info("deferred by back-pressure: re-queued", {
        messageId: record.messageId,
        delaySeconds,
        deferrals: deferrals + 1,
        why: error.message,
      });
      metrics.addMetric("Deferred", MetricUnit.Count, 1);
    }
  };

  return middy(async (event: SQSEvent, context: Context) => {
    const window = windowOf(context, timer, options);
    return processPartialResponse(event, (record: SQSRecord) => processWithin(record, window), processor, {
      throwOnFullBatchFailure: false,
      processInParallel: true,
    });
  })
    .use(injectLambdaContext(logger))
    .use(publishMetrics());
};

interface Window {
  readonly startBy: number;
  readonly finishBy: number;
}

const windowOf = (
  context: Context | undefined,
  timer: Timer,
  options: SqsHandlerOptions,
): Window | undefined => {
  const remaining = context?.getRemainingTimeInMillis?.();
  if (remaining === undefined || !Number.isFinite(remaining)) return undefined;
  return invocationWindow(timer.now(), remaining, {
    reserveMs: options.reserveMs ?? DEFAULT_RESERVE_MS,
    startShare: options.startShare ?? DEFAULT_START_SHARE,
  });
};

/**
 * Runs `work`, but answers by `finishBy` whatever happens: work still running then (a call IoT
 * Core is slow to answer) is deferred; it may go on in the background, and since every step is
 * idempotent, its re-queued copy finishes whatever it leaves.
 */
const bounded = async (finishBy: number, timer: Timer, work: () => Promise<void>): Promise<void> => {
  let timeout: ReturnType<typeof setTimeout> | undefined;
  const running = work();
  const late = new Promise<never>((_, reject) => {
    timeout = setTimeout(
      () => reject(new DeferredError("the invocation's window closed before the record finished", 0)),
      Math.max(0, finishBy - timer.now()),
    );
  });
  try {
    await Promise.race([running, late]);
  } finally {
    clearTimeout(timeout);
    running.catch(() => undefined);
  }
};
