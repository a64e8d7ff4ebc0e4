import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import * as z from "zod/mini";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadFleetConfig } from "#adapters/config.js";
import { sqsHandler } from "#adapters/sqs-handler.js";
import { logger, metrics } from "#adapters/telemetry.js";
import { confirmDeps } from "#adapters/wiring/fleet.js";
import { type ConfirmDeps, confirmReservations } from "#app/confirm-reservation.js";
import { type CertificateId, isCertificateId } from "#domain/ids.js";
import "#domain/validation.js";

/**
 * IoT Core's presence events (`$aws/events/presence/connected/+`, through a topic rule and a
 * queue): a connection whose certificate holds a fleet provisioning reservation confirms it, and
 * the device becomes ACTIVE. A record that fails for a reason of ours is delivered again.
 */
const connected = z.object({ principalIdentifier: z.string() });

/** The function over the dependencies given (the deployment's, a test's). */
export const reservationConfirm = (deps: ConfirmDeps, log: Logger = logger) =>
  sqsHandler(async (record: SQSRecord): Promise<void> => {
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      body = undefined;
    }
    const parsed = connected.safeParse(body);
    // Connections of other principals (a Cognito identity, an IAM user over WebSocket) hold no reservation.
    if (!parsed.success || !isCertificateId(parsed.data.principalIdentifier)) return;
    const certificateId = parsed.data.principalIdentifier as CertificateId;
    const { confirmed, failed } = await confirmReservations(deps, [certificateId]);
    for (const deviceId of confirmed) {
      log.info("fleet provisioning confirmed by the first connection", { deviceId, certificateId });
      metrics.addMetric("ReservationConfirmed", MetricUnit.Count, 1);
    }
    if (failed.length > 0) throw new Error(`confirming ${certificateId} failed; SQS will deliver it again`);
  });

export const handler = builtOnFirstCall(() => reservationConfirm(confirmDeps(loadFleetConfig())));
