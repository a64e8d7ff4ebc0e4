import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import { DeferredError } from "#adapters/back-pressure.js";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadRotationConfig } from "#adapters/config.js";
import { parseRotationMessage } from "#adapters/rotation-messages.js";
import { sqsHandler } from "#adapters/sqs-handler.js";
import { countByReason, logger, metrics } from "#adapters/telemetry.js";
import { rotationDeps } from "#adapters/wiring/rotation.js";
import {
  handleRotationMessage,
  ROTATION_TOPICS,
  type RotationDeps,
  type RotationOutcome,
} from "#app/rotate-certificate.js";
import { reject } from "#domain/rotation.js";

/**
 * A device's certificate rotation, as it speaks (the rotation topic rule, through its queue): its
 * request for a certificate of a new key, and its commit over the new certificate. A record that
 * fails for a reason of ours is delivered again; a malformed one is answered as such and dropped.
 */
export interface RotationOptions {
  readonly topicPrefix: string;
  /** The queue deferred records go back to. */
  readonly queueUrl?: string;
}

/** The function over the dependencies given (the deployment's, a test's). */
export const rotation = (deps: RotationDeps, options: RotationOptions, log: Logger = logger) =>
  sqsHandler(
    async (record: SQSRecord): Promise<void> => {
      const parsed = parseRotationMessage(record.body, options.topicPrefix);
      if (!parsed.ok) {
        log.error("dropping a rotation message", { messageId: record.messageId, why: parsed.why });
        metrics.addMetric("RotationMessageMalformed", MetricUnit.Count, 1);
        const to = parsed.answerTo;
        if (to)
          await deps.messages.send(
            to.deviceId,
            to.step === "csr" ? ROTATION_TOPICS.csrRejected : ROTATION_TOPICS.commitRejected,
            { code: "MESSAGE_INVALID", message: reject("MESSAGE_INVALID", parsed.why).detail },
          );
        return;
      }
      // The records of a batch run concurrently: each logs through its own child logger.
      const child = log.createChild();
      child.appendKeys({
        deviceId: parsed.message.deviceId,
        certificateId: parsed.message.speaker,
        step: parsed.message.kind,
      });
      try {
        report(child, await handleRotationMessage(deps, parsed.message));
      } catch (error) {
        // Back-pressure is no failure: the handler re-queues the record.
        if (error instanceof DeferredError) throw error;
        child.warn("rotation failed; SQS will redeliver", { error });
        metrics.addMetric("RotationRetried", MetricUnit.Count, 1);
        throw error;
      }
    },
    options.queueUrl ? { queueUrl: options.queueUrl } : {},
  );

const report = (log: Logger, outcome: RotationOutcome): void => {
  switch (outcome.kind) {
    case "issued":
      log.info("certificate issued for a rotation", { ...outcome });
      metrics.addMetric(outcome.resumed ? "RotationResumed" : "CertificateIssued", MetricUnit.Count, 1);
      return;
    case "committed":
      log.info("rotation committed", { ...outcome });
      metrics.addMetric(outcome.resumed ? "RotationResumed" : "RotationCommitted", MetricUnit.Count, 1);
      return;
    case "rejected": {
      log.warn("rotation step refused", {
        step: outcome.step,
        reason: outcome.rejection.code,
        detail: outcome.rejection.detail,
      });
      countByReason("RotationRejected", outcome.rejection.code);
      return;
    }
  }
};

export const handler = builtOnFirstCall(() => {
  const config = loadRotationConfig();
  return rotation(rotationDeps(config), {
    topicPrefix: config.TOPIC_PREFIX,
    ...(config.ROTATION_QUEUE_URL ? { queueUrl: config.ROTATION_QUEUE_URL } : {}),
  });
});
