import type { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import * as z from "zod/mini";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadRetirementConfig } from "#adapters/config.js";
import { logger, metrics, publishMetrics } from "#adapters/telemetry.js";
import { retirementDeps } from "#adapters/wiring/retirement.js";
import { expireApprovals } from "#app/approve-replacement.js";
import {
  type RetirementItem,
  type RetirementOutcome,
  type RetirementRunDeps,
  retireCertificates,
} from "#app/retire-certificates.js";
import { ValidationError } from "#domain/errors.js";
import { type CaCertificateId, isCaCertificateId } from "#domain/ids.js";
import "#domain/validation.js";

/**
 * Clean retirement. On its schedule: approvals of replacement certificates that expired unused are
 * recorded and cleared, then the certificates whose retention has passed are deleted from IoT Core,
 * from where the last run stopped until the due part of the queue is done or the run's time is
 * nearly spent (the next run goes on from a checkpoint in the table). Invoked directly (fleetgate
 * cert retire) with { dryRun, retentionDays, caCertificateId, limit }, it answers what it did (or
 * would do), and keeps no checkpoint.
 */
const onDemand = z.strictObject({
  dryRun: z.optional(z.boolean()),
  retentionDays: z.optional(z.number().check(z.int(), z.minimum(0), z.maximum(3650))),
  caCertificateId: z.optional(z.string().check(z.refine(isCaCertificateId, "must be a CA certificate id"))),
  limit: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(100_000))),
});

export interface RetirementRun {
  readonly dryRun: boolean;
  readonly before: string;
  readonly examined: number;
  readonly counts: Readonly<Record<RetirementOutcome, number>>;
  readonly approvalsExpired: number;
  readonly pass: "complete" | "continues next run";
  /** What became of each certificate looked at (an on-demand run's; a scheduled run logs them). */
  readonly items: readonly RetirementItem[];
}

// Kept back from the function's timeout: the last page (25 certificates, a pause after detaching),
// the checkpoint and the metrics.
const MARGIN_MS = 60_000;
const SCHEDULED_LIMIT = 1_000_000;
const ACTOR = "retirement";
const DAY_MS = 86_400_000;

/** The job over the dependencies given (the deployment's, a test's). */
export const certificateRetirement = (deps: RetirementRunDeps, log: Logger = logger) =>
  middy(async (event: unknown, context: Context): Promise<RetirementRun> => {
    const scheduled = (event as { source?: unknown } | null)?.source === "aws.events";
    const parsed = scheduled ? { success: true as const, data: {} } : onDemand.safeParse(event ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
      throw new ValidationError(`invalid retirement request: ${issues.join("; ")}`, issues);
    }
    const request = parsed.data;
    const dryRun = request.dryRun === true;
    const deadline = Date.now() + context.getRemainingTimeInMillis() - MARGIN_MS;
    const approvalsExpired = dryRun ? [] : await expireApprovals(deps, { limit: 1000, actor: ACTOR });

    // Only the scheduled pass goes on from where the last one stopped.
    const keepsCheckpoint = scheduled;
    const resumedFrom = keepsCheckpoint ? await deps.store.readRetirementCheckpoint() : undefined;
    let cursor = resumedFrom;
    const items: RetirementItem[] = [];
    let before = "";
    let examined = 0;
    const limit = request.limit ?? SCHEDULED_LIMIT;
    try {
      for (;;) {
        const report = await retireCertificates(deps, {
          limit: Math.min(1000, limit - examined),
          ...(cursor ? { cursor } : {}),
          dryRun,
          ...(request.retentionDays !== undefined ? { retentionMs: request.retentionDays * DAY_MS } : {}),
          ...(request.caCertificateId ? { caCertificateId: request.caCertificateId as CaCertificateId } : {}),
          actor: ACTOR,
          deadline,
        }).catch((error: unknown) => {
          // A checkpoint this version cannot read: the pass starts over.
          if (!(error instanceof ValidationError) || cursor === undefined || cursor !== resumedFrom)
            throw error;
          log.warn("checkpoint not usable, the pass starts over", { error });
          cursor = undefined;
          return undefined;
        });
        if (!report) continue;
        before = report.before;
        examined += report.examined;
        items.push(...report.items);
        cursor = report.cursor;
        if (!cursor || examined >= limit || Date.now() >= deadline) break;
      }
    } finally {
      if (keepsCheckpoint) await deps.store.saveRetirementCheckpoint(cursor);
    }
    const counts = countOutcomes(items);
    for (const item of items) {
      if (item.outcome === "LEFT") log.warn("certificate left in IoT Core", { ...item });
      else if (item.outcome === "UNCHECKED") log.warn("certificate not retired: a call failed", { ...item });
    }
    const summary = {
      dryRun,
      before,
      examined,
      counts,
      approvalsExpired: approvalsExpired.length,
      pass: cursor ? ("continues next run" as const) : ("complete" as const),
    };
    log.info("retirement run", { ...summary, resumed: resumedFrom !== undefined });
    if (!dryRun) {
      metrics.addMetric("CertificatesRetired", MetricUnit.Count, counts.RETIRED);
      metrics.addMetric("CertificatesLeft", MetricUnit.Count, counts.LEFT);
      metrics.addMetric("RetirementUnchecked", MetricUnit.Count, counts.UNCHECKED);
      metrics.addMetric("ReplacementApprovalsExpired", MetricUnit.Count, approvalsExpired.length);
    }
    return { ...summary, items: scheduled ? [] : items };
  })
    .use(injectLambdaContext(log))
    .use(publishMetrics());

const countOutcomes = (items: readonly RetirementItem[]): Record<RetirementOutcome, number> => {
  const counts: Record<RetirementOutcome, number> = {
    RETIRED: 0,
    WOULD_RETIRE: 0,
    DETACHED: 0,
    LEFT: 0,
    UNCHECKED: 0,
  };
  for (const item of items) counts[item.outcome] += 1;
  return counts;
};

export const handler = builtOnFirstCall(() => certificateRetirement(retirementDeps(loadRetirementConfig())));
