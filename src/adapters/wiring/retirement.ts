import type { RetirementDeps } from "#app/retire-certificates.js";
import { iotClient } from "../aws-clients.js";
import type { RetirementConfig } from "../config.js";
import { inventoryRateLimiters, iotInventory } from "../iot-inventory.js";
import { iotRegistry } from "../iot-registry.js";
import { iotRateLimiters } from "../rate-limiter.js";
import { lifecycleStore, systemClock, type WithTable } from "./shared.js";

/**
 * What the retirement job needs: the table (the queue, devices, approvals), IoT Core's registry
 * and the inventory's listing of the Things that hold a certificate, each call paced at the
 * configured share of the account's quotas.
 */
export const retirementDeps = (config: RetirementConfig): WithTable<RetirementDeps> => ({
  store: lifecycleStore(config),
  registry: iotRegistry(iotClient(), iotRateLimiters(config.IOT_QUOTA_SHARE)),
  inventory: iotInventory(iotClient(), inventoryRateLimiters(config.IOT_QUOTA_SHARE)),
  clock: systemClock,
  retentionMs: config.CERTIFICATE_RETENTION_DAYS * 86_400_000,
  pause: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
});
