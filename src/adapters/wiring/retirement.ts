import type { RetirementDeps } from "#app/retire-certificates.js";
import { iotClient } from "../aws-clients.js";
import type { RetirementConfig } from "../config.js";
import { inventoryRateLimiters, iotInventory } from "../iot-inventory.js";
import { iotRegistry } from "../iot-registry.js";
import { iotPacer, lifecycleStore, systemClock, type WithTable } from "./shared.js";

/**
 * What the retirement job needs: the table (the queue, devices, approvals), IoT Core's registry
 * paced as background work of the deployment's IoT budget, and the inventory's listing of the
 * Things that hold a certificate, at the same share.
 */
export const retirementDeps = (config: RetirementConfig): WithTable<RetirementDeps> => ({
  store: lifecycleStore(config),
  registry: iotRegistry(iotClient(), iotPacer(config, "background")),
  inventory: iotInventory(iotClient(), inventoryRateLimiters(config.IOT_QUOTA_SHARE)),
  clock: systemClock,
  retentionMs: config.CERTIFICATE_RETENTION_DAYS * 86_400_000,
  pause: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
});
