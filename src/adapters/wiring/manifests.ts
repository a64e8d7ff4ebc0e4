import type { BatchDeps } from "#app/register-batch.js";
import { manifestRulesFor } from "#domain/manifest.js";
import type { ApprovalLimits } from "#domain/replacement.js";
import { iotClient } from "../aws-clients.js";
import { approvalLimitsOf, type ManifestConfig } from "../config.js";
import { iotRegistry } from "../iot-registry.js";
import { iotRateLimiters } from "../rate-limiter.js";
import { lifecycleStore, OPERATIONS_QUOTA_SHARE, systemClock, type WithTable } from "./shared.js";

/** What registering a manifest needs: the table, the clock, the row rules, IoT Core's CAs and the trusted factory keys. */
export const manifestDeps = (
  config: ManifestConfig,
): WithTable<BatchDeps & { readonly approvalLimits: ApprovalLimits }> => ({
  store: lifecycleStore(config),
  clock: systemClock,
  manifestRules: manifestRulesFor(config.THING_TYPE_NAME),
  // Registration looks the batch's CA up once: a small share of the account quotas is plenty.
  caRegistry: iotRegistry(iotClient(), iotRateLimiters(OPERATIONS_QUOTA_SHARE)),
  ...(config.FACTORY_PUBLIC_KEYS ? { factoryKeys: config.FACTORY_PUBLIC_KEYS } : {}),
  // A row approving a replacement certificate approves it for this long.
  approvalLimits: approvalLimitsOf(config),
});
