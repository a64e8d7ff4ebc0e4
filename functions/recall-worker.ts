import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import { loadRecallWorkerConfig } from "#adapters/config.js";
import { sqsHandler } from "#adapters/sqs-handler.js";
import { parseRecallMessage } from "#adapters/sqs-recall-queue.js";
import { logger, metrics } from "#adapters/telemetry.js";
import { operationDeps, recallQueue } from "#adapters/wiring/operations.js";
import { recallPage } from "#app/recall-batch.js";

/** Revokes the devices of a recalled batch, a queue message at a time, paced by the queue. */
const config = loadRecallWorkerConfig();
const deps = { ...operationDeps(config), queue: recallQueue(config) };

const processRecord = async (record: SQSRecord): Promise<void> => {
  const message = parseRecallMessage(record.body);
  if (!message) {
    logger.error("dropping malformed recall message", { messageId: record.messageId });
    return;
  }
  const receiveCount = Number(record.attributes.ApproximateReceiveCount) || 1;
  const outcome = await recallPage(deps, message, { receiveCount });
  logger.info("recall page done", { batchId: message.batchId, page: message.page, ...outcome });
  metrics.addMetric("DevicesRecalled", MetricUnit.Count, outcome.revoked);
  if (outcome.failed > 0) metrics.addMetric("DevicesRecallFailed", MetricUnit.Count, outcome.failed);
};

// A page the IoT budget cannot serve in time goes back to the recall queue, delayed.
export const handler = sqsHandler(processRecord, { queueUrl: config.RECALL_QUEUE_URL });
