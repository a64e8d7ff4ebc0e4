import { type CaDirectory, createCaDirectory } from "#app/ca-directory.js";
import type { OperationDeps } from "#app/operate-device.js";
import type { Clock, LifecycleStore } from "#app/ports.js";
import type { ProvisioningDeps } from "#app/provision-certificate.js";
import type { BatchDeps } from "#app/register-batch.js";
import type { ShowDeviceDeps } from "#app/show-device.js";
import { manifestRulesFor } from "#domain/manifest.js";
import { documentClient, iotClient, sqsClient } from "./aws-clients.js";
import type { ManifestConfig, ProvisioningConfig, RecallWorkerConfig, StoreConfig } from "./config.js";
import { dynamoDbLifecycleStore } from "./dynamodb-lifecycle-store.js";
import { iotConnections } from "./iot-connections.js";
import { iotRegistry } from "./iot-registry.js";
import { iotRateLimiters } from "./rate-limiter.js";
import { sqsRecallQueue } from "./sqs-recall-queue.js";

/**
 * Builds the real adapters for the use cases; called once per container. What more than one
 * function uses is here; a function's own composition is in wiring/<function>.ts, so no function
 * bundles another's libraries (the idempotency library is the operations API's alone).
 */

// The wiring hands every use case the whole table, whatever role its port names, so deps built
// for one use case can be spread into another's.
type WithTable<T> = Omit<T, "store"> & { readonly store: LifecycleStore };
export const systemClock: Clock = { now: () => new Date() };

export const lifecycleStore = (config: StoreConfig): LifecycleStore =>
  dynamoDbLifecycleStore(documentClient(), config.DEVICES_TABLE);

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

/** What changing a device's lifecycle needs: the operations API and the recall worker share it. */
export const operationDeps = (config: RecallWorkerConfig): WithTable<OperationDeps & ShowDeviceDeps> => {
  const iot = iotClient();
  return {
    registry: iotRegistry(iot, iotRateLimiters(OPERATIONS_QUOTA_SHARE)),
    connections: iotConnections(iot, { endpointOverridden: config.AWS_ENDPOINT_URL !== undefined }),
    store: lifecycleStore(config),
    clock: systemClock,
  };
};

/** What registering a manifest needs: the table, the clock, the row rules, IoT Core's CAs and the trusted factory keys. */
export const manifestDeps = (config: ManifestConfig): WithTable<BatchDeps> => ({
  store: lifecycleStore(config),
  clock: systemClock,
  manifestRules: manifestRulesFor(config.THING_TYPE_NAME),
  // Registration looks the batch's CA up once: a small share of the account quotas is plenty.
  caRegistry: iotRegistry(iotClient(), iotRateLimiters(OPERATIONS_QUOTA_SHARE)),
  ...(config.FACTORY_PUBLIC_KEYS ? { factoryKeys: config.FACTORY_PUBLIC_KEYS } : {}),
});

export const recallQueue = (config: { RECALL_QUEUE_URL: string }) =>
  sqsRecallQueue(sqsClient(), config.RECALL_QUEUE_URL);

// Operator actions are rare next to first connections: a small share of the account quotas.
const OPERATIONS_QUOTA_SHARE = 0.2;
