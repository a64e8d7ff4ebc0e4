import type { ExpiryDeps } from "#app/expiry-watch.js";
import type { ReconcileDeps } from "#app/reconcile.js";
import { documentClient, iotClient } from "../aws-clients.js";
import type { MaintenanceConfig } from "../config.js";
import { deviceReader } from "../dynamodb/device-ledger.js";
import { reconcilerCheckpoint } from "../dynamodb/reconciler-checkpoint.js";
import { inventoryRateLimiters, iotInventory } from "../iot-inventory.js";
import { systemClock } from "./shared.js";

/**
 * What the reconciler and the expiry watch read: IoT Core's inventory at the configured share of
 * the account's quotas, and the devices of the table (reads only). No registry and no history:
 * whoever repairs adds its own.
 */
export const maintenanceDeps = (config: MaintenanceConfig): Omit<ReconcileDeps, "repairs"> & ExpiryDeps => ({
  inventory: iotInventory(iotClient(), inventoryRateLimiters(config.IOT_QUOTA_SHARE)),
  store: deviceReader(documentClient(), config.DEVICES_TABLE),
  clock: systemClock,
  thingGroupName: config.DEVICE_THING_GROUP,
});

/** Where the scheduled reconciler goes on from. */
export const checkpointOf = (config: MaintenanceConfig) =>
  reconcilerCheckpoint(documentClient(), config.DEVICES_TABLE);
