import type { BatchDeps } from "#app/register-batch.js";
import { manifestRulesFor } from "#domain/manifest.js";
import type { ApprovalLimits } from "#domain/replacement.js";
import { iotClient } from "../aws-clients.js";
import { approvalLimitsOf, type BudgetConfig, type ManifestConfig } from "../config.js";
import { iotRegistry } from "../iot-registry.js";
import { iotPacer, lifecycleStore, systemClock, type WithTable } from "./shared.js";

/** What registering a manifest needs: the table, the clock, the row rules, IoT Core's CAs and the trusted factory keys. */
export const manifestDeps = (
  config: ManifestConfig & Partial<BudgetConfig>,
): WithTable<BatchDeps & { readonly approvalLimits: ApprovalLimits }> => ({
  store: lifecycleStore(config),
  clock: systemClock,
  manifestRules: manifestRulesFor(config.THING_TYPE_NAME),
  // Registration looks the batch's CA up once, as background work of the IoT budget.
  caRegistry: iotRegistry(iotClient(), iotPacer(config, "background")),
  ...(config.FACTORY_PUBLIC_KEYS ? { factoryKeys: config.FACTORY_PUBLIC_KEYS } : {}),
  // A row approving a replacement certificate approves it for this long.
  approvalLimits: approvalLimitsOf(config),
});
