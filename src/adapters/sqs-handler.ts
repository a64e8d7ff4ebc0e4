import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { logger, publishMetrics } from "./telemetry.js";

/**
 * A Lambda handler for an SQS event source: records one after the other (the IoT rate limiters
 * pace them anyway, and each record's log lines keep its own ids), answering with the records
 * that threw so SQS redelivers only those.
 */
export const sqsHandler = (processRecord: (record: SQSRecord) => Promise<void>) => {
  const processor = new BatchProcessor(EventType.SQS);
  return middy(async (event: SQSEvent) =>
    processPartialResponse(event, processRecord, processor, {
      throwOnFullBatchFailure: false,
      processInParallel: false,
    }),
  )
    .use(injectLambdaContext(logger))
    .use(publishMetrics());
};
