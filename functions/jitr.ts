import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import { DeferredError } from "#adapters/back-pressure.js";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadProvisioningConfig } from "#adapters/config.js";
import { parseJitrMessage } from "#adapters/jitr-message.js";
import { type SqsHandlerOptions, sqsHandler } from "#adapters/sqs-handler.js";
import { countByReason, logger, metrics } from "#adapters/telemetry.js";
import { traceAwsCalls } from "#adapters/tracing.js";
import { jitrDeps } from "#adapters/wiring/provisioning.js";
import type { ProvisioningLedger } from "#app/ports.js";
import { type ProvisioningOutcome, provisionCertificate } from "#app/provision-certificate.js";
import { type JitpThingDeps, provisionJitpThing } from "#app/provision-jitp-thing.js";
import { NotReadyError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import { describeRefusal } from "#domain/refusal.js";

// How long a JITP certificate whose template IoT Core has not applied yet waits before it is decided.
const NOT_READY_DELAY_MS = 2_000;

/**
 * JITR: one SQS record per certificate IoT Core registered. Returns the records that failed
 * transiently so SQS redelivers only those; malformed messages are logged and dropped.
 */
traceAwsCalls();

/**
 * The ledger, naming the device and its batch on every later log line of the record as soon as
 * the one read of its allowlist entry knows them (a failure after it is logged with them too).
 */
const namingDevices = (store: ProvisioningLedger, log: Logger): ProvisioningLedger =>
  // Every other method is the store's own, whether it is an object's or a class's.
  Object.assign(Object.create(store) as ProvisioningLedger, {
    readProvisioningState: async (certificateId: CertificateId, deviceId?: DeviceId) => {
      const state = await store.readProvisioningState(certificateId, deviceId);
      const batchId = state.device?.batchId;
      log.appendKeys({ ...(deviceId ? { deviceId } : {}), ...(batchId ? { batchId } : {}) });
      return state;
    },
  });

const processRecord = async (provisioning: JitpThingDeps, record: SQSRecord): Promise<void> => {
  const message = parseJitrMessage(record.body);
  if (!message.ok) {
    logger.error("dropping malformed JITR message", { messageId: record.messageId, why: message.why });
    metrics.addMetric("MalformedEvent", MetricUnit.Count, 1);
    return;
  }
  // The records of a batch run concurrently: each logs through its own child logger.
  const log = logger.createChild();
  log.appendKeys(
    message.kind === "thing"
      ? { thingName: message.thingName }
      : {
          certificateId: message.certificate.certificateId,
          caCertificateId: message.certificate.caCertificateId,
        },
  );
  try {
    const deps = { ...provisioning, store: namingDevices(provisioning.store, log) };
    if (message.kind === "certificate") report(log, await provisionCertificate(deps, message.certificate));
    else
      for (const outcome of await provisionJitpThing(deps, message.thingName))
        report(log.createChild({ persistentKeys: { certificateId: outcome.certificateId } }), outcome);
  } catch (error) {
    // Back-pressure is no failure: the handler re-queues the record.
    if (error instanceof DeferredError) throw error;
    // IoT Core is still applying JITP's template: back in a few seconds, not after the visibility timeout.
    if (error instanceof NotReadyError)
      throw new DeferredError(error.message, Date.now() + NOT_READY_DELAY_MS, { cause: error });
    log.warn("provisioning failed; SQS will redeliver", { error });
    metrics.addMetric("RetriedEvent", MetricUnit.Count, 1);
    throw error;
  }
};

const report = (logger: Logger, outcome: ProvisioningOutcome): void => {
  if (outcome.deviceId) logger.appendKeys({ deviceId: outcome.deviceId });
  switch (outcome.kind) {
    case "provisioned":
      logger.info("device provisioned", { resumed: outcome.resumed });
      metrics.addMetric("Provisioned", MetricUnit.Count, 1);
      return;
    case "refused": {
      const details = { reason: outcome.refusal.code, diagnosis: describeRefusal(outcome.refusal) };
      if (outcome.security) logger.error("SECURITY certificate refused", { ...details, securityEvent: true });
      else logger.warn("certificate refused", details);
      countByReason("Refused", outcome.refusal.code);
      if (outcome.security) metrics.addMetric("SecurityEvent", MetricUnit.Count, 1);
      return;
    }
    case "waiting": {
      logger.info("certificate waiting", {
        reason: outcome.refusal.code,
        diagnosis: describeRefusal(outcome.refusal),
        since: outcome.since,
      });
      countByReason("Waiting", outcome.refusal.code);
      return;
    }
    case "unchanged":
      logger.info("nothing to do", { why: outcome.why });
      metrics.addMetric("RepeatedEvent", MetricUnit.Count, 1);
      return;
  }
};

/**
 * The function over the dependencies given (the deployment's, a test's). Deferred records go back
 * to the JITR queue, delayed.
 */
export const jitr = (deps: JitpThingDeps, options: SqsHandlerOptions = {}) =>
  sqsHandler((record: SQSRecord) => processRecord(deps, record), options);

export const handler = builtOnFirstCall(() => {
  const config = loadProvisioningConfig();
  return jitr(jitrDeps(config), config.JITR_QUEUE_URL ? { queueUrl: config.JITR_QUEUE_URL } : {});
});
