import { type CaDirectory, createCaDirectory } from "#app/ca-directory.js";
import { devicePolicyAttacher } from "#app/device-policy.js";
import { type OperationDeps, type OperatorCommand, operateDevice } from "#app/operate-device.js";
import type { Clock, LifecycleStore } from "#app/ports.js";
import type { ProvisioningDeps } from "#app/provision-certificate.js";
import type { ShowDeviceDeps } from "#app/show-device.js";
import { DEFAULT_MANIFEST_RULES, type ManifestRules } from "#domain/manifest.js";
import devicePolicyTemplate from "../../templates/device-policy.json" with { type: "json" };
import { documentClient, dynamoDbClient, iotClient } from "./aws-clients.js";
import type { OperationsConfig, ProvisioningConfig, StoreConfig } from "./config.js";
import { dynamoDbLifecycleStore } from "./dynamodb-lifecycle-store.js";
import { idempotentRunner } from "./idempotency.js";
import { iotConnections } from "./iot-connections.js";
import { iotRegistry } from "./iot-registry.js";
import { iotRateLimiters } from "./rate-limiter.js";

/** Builds the real adapters for the use cases; called once per container. */
export const systemClock: Clock = { now: () => new Date() };

export const lifecycleStore = (config: StoreConfig): LifecycleStore =>
  dynamoDbLifecycleStore(documentClient(), config.DEVICES_TABLE);

export const provisioningDeps = (config: ProvisioningConfig, cas?: CaDirectory): ProvisioningDeps => {
  const registry = iotRegistry(iotClient(), iotRateLimiters(config.IOT_QUOTA_SHARE));
  return {
    registry,
    store: lifecycleStore(config),
    clock: systemClock,
    cas: cas ?? createCaDirectory(registry, systemClock, config.CA_CACHE_SECONDS * 1000),
    attachDevicePolicy: devicePolicyAttacher(registry, {
      policyName: config.DEVICE_POLICY_NAME,
      template: JSON.stringify(devicePolicyTemplate),
      topicPrefix: config.TOPIC_PREFIX,
    }),
    certificatePolicy: {
      clockSkewMs: config.CLOCK_SKEW_SECONDS * 1000,
      deviceIdField: config.DEVICE_ID_FIELD,
    },
  };
};

export const operationsApiDeps = (config: OperationsConfig) => {
  const iot = iotClient();
  const deps: OperationDeps & ShowDeviceDeps = {
    registry: iotRegistry(iot, iotRateLimiters(OPERATIONS_QUOTA_SHARE)),
    connections: iotConnections(iot, { endpointOverridden: config.AWS_ENDPOINT_URL !== undefined }),
    store: lifecycleStore(config),
    clock: systemClock,
    policyName: config.DEVICE_POLICY_NAME,
  };
  const idempotency = idempotentRunner(dynamoDbClient(), config.DEVICES_TABLE, (command: OperatorCommand) =>
    operateDevice(deps, command),
  );
  return { ...deps, runOnce: idempotency.runOnce, registerContext: idempotency.registerContext };
};

// Operator actions are rare next to first connections: a small share of the account quotas.
const OPERATIONS_QUOTA_SHARE = 0.2;

export const batchDeps = (config: StoreConfig, rules: ManifestRules = DEFAULT_MANIFEST_RULES) => ({
  store: lifecycleStore(config),
  registry: iotRegistry(iotClient()),
  clock: systemClock,
  manifestRules: rules,
});
