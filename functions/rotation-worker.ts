import type { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import middy from "@middy/core";
import type { Context, ScheduledEvent, SQSEvent, SQSRecord } from "aws-lambda";
import { DeferredError } from "#adapters/back-pressure.js";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadRotationRequestConfig } from "#adapters/config.js";
import { parseRotationWork } from "#adapters/rotation-messages.js";
import { sqsHandler } from "#adapters/sqs-handler.js";
import { logger, metrics, publishMetrics } from "#adapters/telemetry.js";
import { rotationRequestDeps, timerRunDeps } from "#adapters/wiring/rotation.js";
import type { ParkedTimers } from "#app/ports.js";
import { type CampaignDeps, runCampaignPage } from "#app/request-rotation.js";
import { releaseParkedTimers, runTimer, type TimerRunDeps } from "#app/rotation-timers.js";

/**
 * The rotation worker: a rotation's timers as they come due (its queue delays each), a campaign's
 * pages, and on a schedule, the sweep that queues the parked timers due within 15 minutes.
 */
export interface RotationWorkerDeps {
  readonly timers: TimerRunDeps & { readonly parkedTimers: ParkedTimers };
  readonly campaigns: CampaignDeps;
}

/** The function over the dependencies given (the deployment's, a test's). */
export const rotationWorker = (
  deps: RotationWorkerDeps,
  options: { queueUrl?: string } = {},
  log: Logger = logger,
) => {
  const work = sqsHandler(
    async (record: SQSRecord): Promise<void> => {
      const message = parseRotationWork(record.body);
      if (!message) {
        log.error("dropping a malformed rotation work message", { messageId: record.messageId });
        return;
      }
      try {
        if (message.kind === "timer") {
          const outcome = await runTimer(deps.timers, message.timer);
          log.info("rotation timer", { ...message.timer, outcome });
          if (outcome === "roll-back") metrics.addMetric("RotationRolledBack", MetricUnit.Count, 1);
          if (outcome === "complete") metrics.addMetric("RotationCompleted", MetricUnit.Count, 1);
        } else {
          const outcome = await runCampaignPage(deps.campaigns, message.page);
          log.info("rotation campaign page", { ...message.page, ...outcome });
          metrics.addMetric("RotationsRequested", MetricUnit.Count, outcome.requested);
        }
      } catch (error) {
        if (error instanceof DeferredError) throw error;
        log.warn("rotation work failed; SQS will redeliver", { error, work: message });
        throw error;
      }
    },
    options.queueUrl ? { queueUrl: options.queueUrl } : {},
  );
  const sweep = middy(async (): Promise<void> => {
    const released = await releaseParkedTimers(deps.timers);
    log.info("parked rotation timers queued", { released });
    if (released > 0) metrics.addMetric("RotationTimersReleased", MetricUnit.Count, released);
  })
    .use(injectLambdaContext(log))
    .use(publishMetrics());
  return (event: SQSEvent | ScheduledEvent, context: Context) =>
    "Records" in event ? work(event, context) : sweep(event, context);
};

export const handler = builtOnFirstCall(() => {
  const config = loadRotationRequestConfig();
  return rotationWorker(
    { timers: timerRunDeps(config), campaigns: rotationRequestDeps(config) },
    { queueUrl: config.ROTATION_WORK_QUEUE_URL },
  );
});
