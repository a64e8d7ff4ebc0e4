import { inject } from "vitest";
import { scheduleStoreContract } from "#test/contract/schedule-store.js";
import { createMotoWorld } from "#test/support/moto-world.js";

// The IoT budget's schedules on DynamoDB (moto), in the lifecycle table, keep the same promises
// (two writers at once are checked against the deployed table: test/e2e/iot-budget-store.test.ts).
scheduleStoreContract(
  "DynamoDB",
  async () => {
    const world = await createMotoWorld(inject("motoEndpoint"));
    const { dynamoDbScheduleStore } = await import("#adapters/dynamodb/iot-budget-schedules.js");
    const { dynamoDbClient } = await import("#adapters/aws-clients.js");
    return dynamoDbScheduleStore(dynamoDbClient(), world.tableName);
  },
  { atomicConditionalWrites: false },
);
