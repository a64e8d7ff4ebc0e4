import type { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import middy from "@middy/core";
import * as z from "zod/mini";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { loadFleetConfig } from "#adapters/config.js";
import { countByReason, logger, metrics, publishMetrics } from "#adapters/telemetry.js";
import { preProvisioningDeps } from "#adapters/wiring/fleet.js";
import {
  type PreProvisioningDeps,
  type PreProvisioningOutcome,
  type ProvisioningRequest,
  preProvision,
} from "#app/pre-provision.js";
import { type CertificateId, isCertificateId } from "#domain/ids.js";
import { describeRefusal } from "#domain/refusal.js";
import "#domain/validation.js";

/**
 * The fleet provisioning template's pre-provisioning hook, invoked by IoT Core for each
 * RegisterThing: answers from the allowlist whether the device may be provisioned, within IoT
 * Core's 5 seconds. Anything that is not an allow in time is a deny (IoT Core's own rule too).
 */
const certificateId = z.string().check(z.refine(isCertificateId, "must be a certificate id"));
const hookEvent = z.object({
  claimCertificateId: certificateId,
  certificateId,
  certificatePem: z.string().check(z.maxLength(16_384)),
  templateArn: z
    .string()
    .check(z.regex(/^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:provisioningtemplate\/[0-9A-Za-z_-]{1,36}$/)),
  clientId: z.optional(z.string()),
  parameters: z._default(z.record(z.string(), z.string()), {}),
});

/** IoT Core reads a boolean; overrides replace the template parameters the device sent. */
export interface HookAnswer {
  readonly allowProvisioning: boolean;
  readonly parameterOverrides?: Readonly<Record<string, string>>;
}
const DENY: HookAnswer = { allowProvisioning: false };

/** The hook over the dependencies given (the deployment's, a test's, the benchmark's). */
export const provisioningHook = (deps: PreProvisioningDeps, log: Logger = logger) =>
  middy(async (event: unknown): Promise<HookAnswer> => {
    const started = performance.now();
    const parsed = hookEvent.safeParse(event);
    if (!parsed.success) {
      log.error("fleet provisioning denied: the request is not IoT Core's hook input", {
        issues: parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`),
      });
      metrics.addMetric("HookMalformedRequest", MetricUnit.Count, 1);
      return DENY;
    }
    const { templateArn, claimCertificateId, clientId, ...rest } = parsed.data;
    log.appendKeys({ certificateId: rest.certificateId, claimCertificateId, clientId });
    const request: ProvisioningRequest = {
      ...rest,
      claimCertificateId: claimCertificateId as CertificateId,
      certificateId: rest.certificateId as CertificateId,
      // The new certificate lives in the template's account and region.
      certificateArn: templateArn.replace(/:provisioningtemplate\/.*$/, `:cert/${rest.certificateId}`),
    };
    let outcome: PreProvisioningOutcome;
    try {
      outcome = await preProvision(deps, request);
    } catch (error) {
      // The use case denies every failure itself; this is a bug's last line, and it denies too.
      log.error("fleet provisioning denied: the hook failed", { error });
      metrics.addMetric("HookUnavailable", MetricUnit.Count, 1);
      return DENY;
    }
    report(log, outcome, Math.round(performance.now() - started));
    return outcome.kind === "allowed"
      ? { allowProvisioning: true, parameterOverrides: outcome.parameterOverrides }
      : DENY;
  })
    .use(injectLambdaContext(log, { resetKeys: true }))
    .use(publishMetrics());

const report = (log: Logger, outcome: PreProvisioningOutcome, durationMs: number): void => {
  if (outcome.deviceId) log.appendKeys({ deviceId: outcome.deviceId });
  metrics.addMetric("HookDuration", MetricUnit.Milliseconds, durationMs);
  switch (outcome.kind) {
    case "allowed":
      log.info("fleet provisioning allowed", {
        again: outcome.again,
        ...(outcome.released ? { releasedExpiredReservationOf: outcome.released } : {}),
        durationMs,
      });
      metrics.addMetric("HookAllowed", MetricUnit.Count, 1);
      return;
    case "denied": {
      const details = {
        reason: outcome.refusal.code,
        diagnosis: describeRefusal(outcome.refusal),
        recorded: outcome.recorded,
        durationMs,
      };
      if (outcome.security)
        log.error("SECURITY fleet provisioning denied", { ...details, securityEvent: true });
      else log.warn("fleet provisioning denied", details);
      countByReason("HookDenied", outcome.refusal.code);
      if (outcome.security) metrics.addMetric("SecurityEvent", MetricUnit.Count, 1);
      return;
    }
    case "unavailable":
      log.error("fleet provisioning denied: no decision in time (ours, not a verdict)", {
        why: outcome.why,
        recorded: outcome.recorded,
        durationMs,
      });
      metrics.addMetric("HookUnavailable", MetricUnit.Count, 1);
      return;
  }
};

export const handler = builtOnFirstCall(() => provisioningHook(preProvisioningDeps(loadFleetConfig())));
