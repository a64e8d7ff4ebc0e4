import { type CaDirectory, createCaDirectory } from "#app/ca-directory.js";
import { jitpRegistration } from "#app/jitp-registration.js";
import type { ProvisioningDeps } from "#app/provision-certificate.js";
import type { JitpThingDeps } from "#app/provision-jitp-thing.js";
import { iotClient } from "../aws-clients.js";
import type { ProvisioningConfig } from "../config.js";
import type { Priority } from "../iot-budget.js";
import { iotInventory } from "../iot-inventory.js";
import { iotRegistry } from "../iot-registry.js";
import { iotPacer, lifecycleStore, systemClock } from "./shared.js";

/**
 * What provisioning a certificate needs: JITR's (first connections, served first from the IoT
 * budget), and the ingest's for certificates manifests bring (background work).
 */
export const provisioningDeps = (
  config: ProvisioningConfig,
  cas?: CaDirectory,
  priority: Priority = "first",
): ProvisioningDeps => {
  const registry = iotRegistry(iotClient(), iotPacer(config, priority));
  return {
    registry,
    store: lifecycleStore(config),
    clock: systemClock,
    ...(config.THING_TYPE_NAME ? { thingTypeName: config.THING_TYPE_NAME } : {}),
    cas: cas ?? createCaDirectory(registry, systemClock, config.CA_CACHE_SECONDS * 1000),
    thingGroupName: config.DEVICE_THING_GROUP,
    waitLimitMs: config.ALLOWLIST_WAIT_DAYS * 86_400_000,
    certificatePolicy: {
      clockSkewMs: config.CLOCK_SKEW_SECONDS * 1000,
      deviceIdField: config.DEVICE_ID_FIELD,
    },
  };
};

/**
 * The JITR function's provisioning: the shared one, with the steps only JITP certificates need and
 * the listing of a Thing JITP made (its created event names only the Thing).
 */
export const jitrDeps = (config: ProvisioningConfig): JitpThingDeps => {
  const deps = provisioningDeps(config);
  const things = iotInventory(iotClient(), iotPacer(config, "first"));
  return { ...deps, jitp: jitpRegistration(deps.registry), things };
};
