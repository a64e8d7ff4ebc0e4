import { type CaDirectory, createCaDirectory } from "#app/ca-directory.js";
import type { ProvisioningDeps } from "#app/provision-certificate.js";
import { iotClient } from "../aws-clients.js";
import type { ProvisioningConfig } from "../config.js";
import { iotRegistry } from "../iot-registry.js";
import { iotRateLimiters } from "../rate-limiter.js";
import { lifecycleStore, systemClock } from "./shared.js";

/** What provisioning a certificate needs: JITR's, and the ingest's for certificates manifests bring. */
export const provisioningDeps = (config: ProvisioningConfig, cas?: CaDirectory): ProvisioningDeps => {
  const registry = iotRegistry(iotClient(), iotRateLimiters(config.IOT_QUOTA_SHARE));
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
