import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Context } from "aws-lambda";
import { AlreadyExistsError, ConcurrentUpdateError } from "#domain/errors.js";

/**
 * Runs a function at most once per key (the HTTP Idempotency-Key, scoped by the caller), storing
 * its answer for a day in the lifecycle table under `pk = IDEMPOTENCY`. A retry with the same key
 * gets the first answer; the same key with another request is refused.
 */
export const idempotentRunner = <I, O>(
  client: DynamoDBClient,
  tableName: string,
  run: (input: I) => Promise<O>,
): { runOnce: (key: string, input: I) => Promise<O>; registerContext: (context: Context) => void } => {
  const config = new IdempotencyConfig({
    eventKeyJmesPath: "key",
    payloadValidationJmesPath: "input",
    expiresAfterSeconds: 24 * 3600,
  });
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName,
    keyAttr: "pk",
    sortKeyAttr: "sk",
    staticPkValue: "IDEMPOTENCY",
    awsSdkV3Client: client,
  });
  const once = makeIdempotent(async (request: { key: string; input: I }) => run(request.input), {
    persistenceStore,
    config,
  });
  return {
    registerContext: (context) => config.registerLambdaContext(context),
    async runOnce(key, input) {
      try {
        return (await once({ key, input })) as O;
      } catch (error) {
        if (error instanceof IdempotencyValidationError) {
          throw new AlreadyExistsError("this Idempotency-Key was already used for a different request");
        }
        if (error instanceof IdempotencyAlreadyInProgressError) {
          throw new ConcurrentUpdateError(
            "a request with this Idempotency-Key is still in progress; retry later",
          );
        }
        throw error;
      }
    },
  };
};
