import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import { loadRecallWorkerConfig } from "#adapters/config.js";
import { sqsHandler } from "#adapters/sqs-handler.js";
import { parseRecallMessage } from "#adapters/sqs-recall-queue.js";
import { logger, metrics } from "#adapters/telemetry.js";
import { operationDeps } from "#adapters/wiring.js";
import { recallDevices } from "#app/recall-batch.js";

/** Revokes the devices of a recalled batch, a queue message at a time, paced by the queue. */
const deps = operationDeps(loadRecallWorkerConfig());

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

export const handler = sqsHandler(processRecord);
