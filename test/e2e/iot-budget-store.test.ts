import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { inject } from "vitest";
import { dynamoDbScheduleStore } from "#adapters/dynamodb/iot-budget-schedules.js";
import { localClientConfig } from "#local/ministack.js";
import { scheduleStoreContract } from "#test/contract/schedule-store.js";

// The IoT budget's schedules in the deployed lifecycle table: the same promises, two writers at
// once included (ministack, like DynamoDB, applies one request to an item at a time).
scheduleStoreContract("DynamoDB, deployed", async () => {
  const stack = inject("localStack");
  return dynamoDbScheduleStore(
    new DynamoDBClient(localClientConfig(stack.aws)),
    stack.stack.outputs.DevicesTableName ?? "",
  );
});
