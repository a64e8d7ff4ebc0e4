import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import middy from "@middy/core";
import type { Context, S3Event } from "aws-lambda";
import { DeferredError, invocationWindow, withinWindow } from "#adapters/back-pressure.js";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadIngestConfig } from "#adapters/config.js";
import { logger, metrics, publishMetrics } from "#adapters/telemetry.js";
import { type IngestDeps, ingestDeps } from "#adapters/wiring/ingest-manifest.js";
import { ingestUpload } from "#app/ingest-upload.js";

/**
 * A manifest uploaded through an upload ticket: stream it from S3, check it whole, register its
 * rows. Transient failures throw, and Lambda's asynchronous retries run it again (safely).
 */

/** S3's event, or one the function handed itself to go on with a manifest's certificates. */
export type IngestEvent = S3Event & { readonly continuation?: { readonly run: number } };

// S3 event keys are URL-encoded, with spaces as '+'.
const objectKey = (key: string): string => decodeURIComponent(key.replace(/\+/g, " "));

// Pre-registration waits for the IoT budget (background work): a certificate is registered only
// with two minutes left to provision it, and every call comes a minute before the timeout at the
// latest. Then the run hands the manifest to a new invocation of the function, which resumes where
// it stopped (about 8,000 certificates a run at IoT Core's default quotas).
const RESERVE_MS = 60_000;
const UNIT_MS = 120_000;
// Runs of one upload at most (12 hours of 15-minute runs); past that the window's end fails the
// run like any failure: Lambda's two retries, then the dead-letter queue and its alarm.
const MAX_RUNS = 48;

/** Which run of its upload this is: 1 for S3's event, or whatever a malformed count says. */
const runOf = (event: IngestEvent): number => {
  const run = event.continuation?.run;
  return Number.isInteger(run) && (run as number) >= 1 ? (run as number) : 1;
};

/** The function over the dependencies given (the deployment's, a test's). */
export const ingestManifest = (deps: IngestDeps) =>
  middy(async (event: IngestEvent, context: Context): Promise<void> => {
    const { finishBy } = invocationWindow(Date.now(), context?.getRemainingTimeInMillis?.() ?? 900_000, {
      reserveMs: RESERVE_MS,
      startShare: 1,
    });
    const window = { startBy: finishBy - UNIT_MS, finishBy, opensWith: "RegisterCertificate" };
    try {
      await withinWindow(window, () => ingestAll(deps, event));
    } catch (error) {
      const run = runOf(event) + 1;
      // Only the window's end goes on at once. A deferral before it (the budget's schedule
      // contended, say) fails the run as before: Lambda's retries come back after a while.
      const windowEnded = Date.now() >= window.startBy;
      if (!(error instanceof DeferredError) || !windowEnded || !deps.continuation || run > MAX_RUNS)
        throw error;
      try {
        await deps.continuation.goOn({ ...event, continuation: { run } });
      } catch (failure) {
        throw new Error(`the window closed with certificates left, and going on failed: ${failure}`, {
          cause: failure,
        });
      }
      logger.info("pre-registration goes on in a new invocation", { run, reason: error.message });
      metrics.addMetric("IngestContinued", MetricUnit.Count, 1);
    }
  })
    .use(injectLambdaContext(logger))
    .use(publishMetrics());

export const handler = builtOnFirstCall(() => ingestManifest(ingestDeps(loadIngestConfig())));

async function ingestAll(deps: IngestDeps, event: S3Event): Promise<void> {
  for (const record of event.Records) {
    const key = objectKey(record.s3.object.key);
    // The version the event names: an upload URL may be used again before it expires, and only
    // this upload's bytes, checked against its own signature, may be registered.
    const metadata = await deps.manifests.metadata(key, record.s3.object.versionId);
    if (!metadata) {
      logger.error("ignoring an object uploaded without a ticket", { key });
      metrics.addMetric("ManifestWithoutTicket", MetricUnit.Count, 1);
      continue;
    }
    const { versionId, ...parameters } = metadata;
    const outcome = await ingestUpload(deps, {
      ...parameters,
      source: `s3://${deps.bucket}/${key}`,
      open: () => deps.manifests.readObject(key, versionId),
    });
    if (outcome.kind === "refused") {
      logger.warn("manifest refused", {
        key,
        versionId,
        batchId: outcome.batch.batchId,
        error: outcome.batch.error,
      });
      metrics.addMetric("ManifestRefused", MetricUnit.Count, 1);
      metrics.addMetric("BatchFailed", MetricUnit.Count, 1);
    } else {
      const { batch, replay } = outcome.result;
      logger.info("manifest registered", {
        key,
        versionId,
        batchId: batch.batchId,
        state: batch.state,
        counts: batch.counts,
        replay,
      });
      metrics.addMetric("DevicesAllowed", MetricUnit.Count, replay ? 0 : (batch.counts?.accepted ?? 0));
      // No row of it could be registered.
      if (batch.state === "FAILED" && !replay) metrics.addMetric("BatchFailed", MetricUnit.Count, 1);
    }
  }
}
