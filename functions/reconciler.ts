import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { withinWindow } from "#adapters/back-pressure.js";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadMaintenanceConfig } from "#adapters/config.js";
import { logger, metrics, publishMetrics } from "#adapters/telemetry.js";
import { checkpointOf, maintenanceDeps } from "#adapters/wiring/maintenance.js";
import { type ExpiringDevice, watchExpiry } from "#app/expiry-watch.js";
import type { ReconcilerCheckpoint } from "#app/ports.js";
import { DRIFT_KINDS, type DriftKind, reconcile } from "#app/reconcile.js";
import { DependencyRejectedError, ThrottledError, ValidationError } from "#domain/errors.js";

/**
 * Once a day (an EventBridge schedule): the expiry watch, then the reconciler from where its last
 * run stopped until its pass ends or the run's time is nearly spent (the next run goes on from a
 * checkpoint in the table). It reports to the log and as metrics, and repairs nothing: repairs are
 * asked for by an operator (fleetgate reconcile --repair).
 */
/** What a run works with: the IoT inventory and the table, where it stopped, how far the watch looks. */
export interface ReconcilerDeps {
  readonly deps: ReturnType<typeof maintenanceDeps>;
  readonly checkpoint: ReconcilerCheckpoint;
  readonly horizonDays: { readonly device: number; readonly ca: number };
}

// Time kept back from the function's timeout: the last page of checks, the checkpoint, the metrics.
const MARGIN_MS = 90_000;
const LOGGED_DEVICES = 100;

const expiry = async ({ deps, horizonDays }: ReconcilerDeps): Promise<{ devices: number; cas: number }> => {
  const devices: ExpiringDevice[] = [];
  let count = 0;
  let cursor: string | undefined;
  let cas = 0;
  do {
    const report = await watchExpiry(deps, {
      deviceDays: horizonDays.device,
      caDays: horizonDays.ca,
      limit: 5000,
      ...(cursor ? { cursor } : {}),
    });
    count += report.devices.length;
    devices.push(...report.devices.slice(0, LOGGED_DEVICES - devices.length));
    for (const ca of report.cas ?? []) {
      cas += 1;
      logger.warn("CA certificate expiring", { ...ca, horizonDays: horizonDays.ca });
    }
    cursor = report.cursor;
  } while (cursor);
  logger.info("device certificates expiring", {
    count,
    horizonDays: horizonDays.device,
    soonest: devices.sort((a, b) => a.notAfter.localeCompare(b.notAfter)),
  });
  for (const [kind, value] of [
    ["device", count],
    ["ca", cas],
  ] as const) {
    const single = metrics.singleMetric();
    single.addDimension("Kind", kind);
    single.addMetric("CertificatesExpiring", MetricUnit.Count, value);
  }
  return { devices: count, cas };
};

interface RunSummary {
  readonly examined: number;
  readonly unchecked: number;
  readonly drifts: Record<string, number>;
  readonly pass: "complete" | "continues next run";
}

const reconcilePart = async ({ deps, checkpoint }: ReconcilerDeps, deadline: number): Promise<RunSummary> => {
  const found = new Map<DriftKind, number>(DRIFT_KINDS.map((kind) => [kind, 0]));
  let security = 0;
  let examined = 0;
  let unchecked = 0;
  let cursor = await checkpoint.readCheckpoint();
  const resumedFrom = cursor;
  let summary: RunSummary | undefined;
  try {
    for (;;) {
      const report = await reconcile(deps, {
        limit: 1000,
        ...(cursor ? { cursor } : {}),
        actor: "reconciler",
        deadline,
      }).catch((error: unknown) => {
        // The IoT budget had no slot for a read before the run's end (first connections come
        // first): the run stops here, and the next goes on from this page.
        if (error instanceof ThrottledError) {
          logger.warn("IoT budget busy: the pass goes on next run", { error });
          return "stop" as const;
        }
        // A checkpoint this version cannot read (another walk, an expired listing token): start over.
        const stale = error instanceof ValidationError || error instanceof DependencyRejectedError;
        if (!stale || cursor === undefined || cursor !== resumedFrom || examined > 0) throw error;
        logger.warn("checkpoint not usable, the pass starts over", { error });
        cursor = undefined;
        return undefined;
      });
      if (report === "stop") break;
      if (!report) continue;
      examined += report.examined;
      for (const drift of report.drifts) {
        found.set(drift.kind, (found.get(drift.kind) ?? 0) + 1);
        if (drift.security) {
          security += 1;
          logger.error("SECURITY drift", { ...drift, securityEvent: true });
        } else logger.warn("drift", { ...drift });
      }
      for (const item of report.unchecked) logger.warn("not checked: a read failed", { ...item });
      unchecked += report.unchecked.length;
      cursor = report.cursor;
      if (!cursor || Date.now() >= deadline) break;
    }
  } finally {
    // Where the next run goes on from, also after a failure: the pages before it were checked.
    await checkpoint.saveCheckpoint(cursor);
    summary = {
      examined,
      unchecked,
      drifts: Object.fromEntries(found),
      pass: cursor ? "continues next run" : "complete",
    };
    logger.info("reconcile run", { ...summary, resumed: resumedFrom !== undefined });
    for (const [kind, value] of found) {
      const single = metrics.singleMetric();
      single.addDimension("Kind", kind);
      single.addMetric("DriftFound", MetricUnit.Count, value);
    }
    metrics.addMetric("SecurityDriftFound", MetricUnit.Count, security);
    metrics.addMetric("ReconcileUnchecked", MetricUnit.Count, unchecked);
  }
  return summary;
};

/**
 * The function over the dependencies given (the deployment's, a test's). It answers what it found,
 * for whoever invokes it directly; the schedule ignores the answer.
 */
export const reconciler = (run: ReconcilerDeps) =>
  middy(async (_event: unknown, context: Context) => {
    const deadline = Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS;
    // Background work of the IoT budget: each read waits for its slot until the run's end.
    return withinWindow({ startBy: deadline, finishBy: deadline }, async () => {
      const expiring = await expiry(run);
      const reconciled = await reconcilePart(run, deadline);
      return { expiring, reconciled };
    });
  })
    .use(injectLambdaContext(logger))
    .use(publishMetrics());

export const handler = builtOnFirstCall(() => {
  const config = loadMaintenanceConfig();
  return reconciler({
    deps: maintenanceDeps(config),
    checkpoint: checkpointOf(config),
    horizonDays: { device: config.EXPIRY_DEVICE_DAYS, ca: config.EXPIRY_CA_DAYS },
  });
});
