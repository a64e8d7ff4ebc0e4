import { type OperatorCommand, operateDevice } from "#app/operate-device.js";
import { dynamoDbClient, s3Client } from "../aws-clients.js";
import type { OperationsConfig } from "../config.js";
import { idempotentRunner } from "../idempotency.js";
import { s3Manifests } from "../s3-manifests.js";
import { manifestDeps } from "./manifests.js";
import { operationDeps, recallQueue } from "./operations.js";

/**
 * The operations API's adapters: the only function that runs operator commands idempotently, so
 * the only one whose bundle holds the idempotency library.
 */
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
