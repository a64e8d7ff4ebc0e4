import type { OperationDeps } from "#app/operate-device.js";
import type { ShowDeviceDeps } from "#app/show-device.js";
import { iotClient, sqsClient } from "../aws-clients.js";
import type { RecallWorkerConfig } from "../config.js";
import { iotConnections } from "../iot-connections.js";
import { iotRegistry } from "../iot-registry.js";
import { sqsRecallQueue } from "../sqs-recall-queue.js";
import { iotPacer, lifecycleStore, systemClock, type WithTable } from "./shared.js";

/** What changing a device's lifecycle needs: the operations API and the recall worker share it. */
export const operationDeps = (config: RecallWorkerConfig): WithTable<OperationDeps & ShowDeviceDeps> => {
  const iot = iotClient();
  return {
    // Operator actions and recalls are background work for the IoT budget: first connections first.
    registry: iotRegistry(iot, iotPacer(config, "background")),
    connections: iotConnections(iot, { endpointOverridden: config.AWS_ENDPOINT_URL !== undefined }),
    store: lifecycleStore(config),
    clock: systemClock,
  };
};

export const recallQueue = (config: { RECALL_QUEUE_URL: string }) =>
  sqsRecallQueue(sqsClient(), config.RECALL_QUEUE_URL);
