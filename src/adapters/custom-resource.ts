import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { CloudFormationCustomResourceEvent, Context } from "aws-lambda";
import { logger } from "./telemetry.js";

/** What a custom resource's work answers: the resource's physical id and attributes for Fn::GetAtt. */
export interface CustomResourceResult {
  readonly physicalResourceId: string;
  readonly data?: Readonly<Record<string, string>>;
}

// Answer FAILED this long before Lambda's timeout: a custom resource that never answers holds
// its stack for an hour.
const ANSWER_MARGIN_MS = 5_000;

/**
 * A Lambda handler for a CloudFormation custom resource: runs the work, then always answers on the
 * event's ResponseURL, SUCCESS or FAILED with the reason, in time. (Middy's own responder is
 * published for middy 7 only, which needs Node 22.)
 */
export const customResourceHandler = (
  work: (event: CloudFormationCustomResourceEvent) => Promise<CustomResourceResult>,
) =>
  middy(async (event: CloudFormationCustomResourceEvent, context: Context): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("timed out")),
        Math.max(1_000, context.getRemainingTimeInMillis() - ANSWER_MARGIN_MS),
      );
    });
    let answer: Record<string, unknown>;
    try {
      const result = await Promise.race([work(event), deadline]);
      logger.info("custom resource done", { requestType: event.RequestType, ...result });
      answer = { Status: "SUCCESS", PhysicalResourceId: result.physicalResourceId, Data: result.data ?? {} };
    } catch (error) {
      logger.error("custom resource failed", { requestType: event.RequestType, error });
      answer = {
        Status: "FAILED",
        Reason: `${error instanceof Error ? error.message : String(error)} (log stream ${context.logStreamName})`,
        // A resource that failed to be created still needs an id, or its deletion cannot be answered.
        PhysicalResourceId:
          "PhysicalResourceId" in event ? event.PhysicalResourceId : `${event.LogicalResourceId}-failed`,
      };
    } finally {
      clearTimeout(timer);
    }
    const response = await fetch(event.ResponseURL, {
      method: "PUT",
      // The ResponseURL is presigned without a content type.
      headers: { "content-type": "" },
      body: JSON.stringify({
        ...answer,
        StackId: event.StackId,
        RequestId: event.RequestId,
        LogicalResourceId: event.LogicalResourceId,
      }),
    });
    if (!response.ok) throw new Error(`CloudFormation did not take the answer: HTTP ${response.status}`);
  }).use(injectLambdaContext(logger));
