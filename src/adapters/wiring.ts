import { type CaDirectory, createCaDirectory } from "#app/ca-directory.js";
import { type OperationDeps, type OperatorCommand, operateDevice } from "#app/operate-device.js";
import type { Clock, LifecycleStore } from "#app/ports.js";
import type { ProvisioningDeps } from "#app/provision-certificate.js";
import type { BatchDeps } from "#app/register-batch.js";
import type { ShowDeviceDeps } from "#app/show-device.js";
import { manifestRulesFor } from "#domain/manifest.js";
import { documentClient, dynamoDbClient, iotClient, s3Client, sqsClient } from "./aws-clients.js";
import type {
  IngestConfig,
  ManifestConfig,
  OperationsConfig,
  ProvisioningConfig,
  RecallWorkerConfig,
  StoreConfig,
} from "./config.js";
import { dynamoDbLifecycleStore } from "./dynamodb-lifecycle-store.js";
import { idempotentRunner } from "./idempotency.js";
import { iotConnections } from "./iot-connections.js";
import { iotRegistry } from "./iot-registry.js";
import { iotRateLimiters } from "./rate-limiter.js";
import { s3Manifests } from "./s3-manifests.js";
import { sqsRecallQueue } from "./sqs-recall-queue.js";

/** Builds the real adapters for the use cases; called once per container. */

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

export const operationsApiDeps = (config: OperationsConfig) => {
  const deps = operationDeps(config);
  const idempotency = idempotentRunner(dynamoDbClient(), config.DEVICES_TABLE, (command: OperatorCommand) =>
    operateDevice(deps, command),
  );
  const manifests = s3Manifests(s3Client(), config.MANIFEST_BUCKET);
  return {
    ...deps,
    ...manifestDeps(config),
    runOnce: idempotency.runOnce,
    registerContext: idempotency.registerContext,
    queue: recallQueue(config),
    uploadTicket: manifests.uploadTicket,
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

export const ingestDeps = (config: IngestConfig) => ({
  ...manifestDeps(config),
  // Rows of uploads may bring certificates: they must name their device as JITR reads it.
  manifestRules: manifestRulesFor(config.THING_TYPE_NAME, config.DEVICE_ID_FIELD),
  provisioning: provisioningDeps(config),
  manifests: s3Manifests(s3Client(), config.MANIFEST_BUCKET),
  bucket: config.MANIFEST_BUCKET,
});

// Operator actions are rare next to first connections: a small share of the account quotas.
const OPERATIONS_QUOTA_SHARE = 0.2;
