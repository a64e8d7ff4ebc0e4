import type { ExpiryDeps } from "#app/expiry-watch.js";
import type { ReconcileDeps } from "#app/reconcile.js";
import { documentClient, iotClient } from "../aws-clients.js";
import type { MaintenanceConfig } from "../config.js";
import { deviceReader } from "../dynamodb/device-ledger.js";
import { reconcilerCheckpoint } from "../dynamodb/reconciler-checkpoint.js";
import { iotInventory } from "../iot-inventory.js";
import { iotPacer, systemClock } from "./shared.js";

/**
 * What the reconciler and the expiry watch read: IoT Core's inventory as background work of the
 * deployment's IoT budget, and the devices of the table (reads only). No registry and no history:
 * whoever repairs adds its own.
 */
export const maintenanceDeps = (config: MaintenanceConfig): Omit<ReconcileDeps, "repairs"> & ExpiryDeps => ({
  inventory: iotInventory(iotClient(), iotPacer(config, "background")),
  store: deviceReader(documentClient(), config.DEVICES_TABLE),
  clock: systemClock,
  thingGroupName: config.DEVICE_THING_GROUP,
});

/** Where the scheduled reconciler goes on from. */
export const checkpointOf = (config: MaintenanceConfig) =>
  reconcilerCheckpoint(documentClient(), config.DEVICES_TABLE);
