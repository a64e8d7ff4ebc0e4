import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadRecallWorkerConfig } from "#adapters/config.js";
import { sqsHandler } from "#adapters/sqs-handler.js";
import { parseRecallMessage } from "#adapters/sqs-recall-queue.js";
import { logger, metrics } from "#adapters/telemetry.js";
import { operationDeps, recallQueue } from "#adapters/wiring/operations.js";
import type { OperationDeps } from "#app/operate-device.js";
import { type RecallDeps, recallPage } from "#app/recall-batch.js";

/** Revokes the devices of a recalled batch, a queue message at a time, paced by the queue. */
const processRecord = async (deps: RecallDeps & OperationDeps, record: SQSRecord): Promise<void> => {
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

/**
 * The function over the dependencies given (the deployment's, a test's). A page the IoT budget
 * cannot serve in time goes back to the recall queue, delayed.
 */
export const recallWorker = (deps: RecallDeps & OperationDeps, options: { readonly queueUrl: string }) =>
  sqsHandler((record: SQSRecord) => processRecord(deps, record), options);

export const handler = builtOnFirstCall(() => {
  const config = loadRecallWorkerConfig();
  return recallWorker(
    { ...operationDeps(config), queue: recallQueue(config) },
    { queueUrl: config.RECALL_QUEUE_URL },
  );
});
