import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { loadRecallWorkerConfig } from "#adapters/config.js";
import { parseRecallMessage } from "#adapters/sqs-recall-queue.js";
import { logger, metrics } from "#adapters/telemetry.js";
import { operationDeps } from "#adapters/wiring.js";
import { recallDevices } from "#app/recall-batch.js";

/** Revokes the devices of a recalled batch, a queue message at a time, paced by the queue. */
const deps = operationDeps(loadRecallWorkerConfig());
const processor = new BatchProcessor(EventType.SQS);

const processRecord = async (record: SQSRecord): Promise<void> => {
  const message = parseRecallMessage(record.body);
  if (!message) {
    logger.error("dropping malformed recall message", { messageId: record.messageId });
    return;
  }
  const outcome = await recallDevices(deps, message);
  logger.info("recall chunk done", { batchId: message.batchId, chunk: message.chunk, ...outcome });
  metrics.addMetric("DevicesRecalled", MetricUnit.Count, outcome.revoked);
};

export const handler = middy(async (event: SQSEvent) =>
  processPartialResponse(event, processRecord, processor, {
    throwOnFullBatchFailure: false,
    processInParallel: false,
  }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
