import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { call, toDomainError } from "../aws-errors.js";
import type { ScheduleState, ScheduleStore } from "../iot-budget.js";

/**
 * The deployment's IoT budget: one item of the lifecycle table per IoT operation
 * (`BUDGET#iot` / the operation), swapped conditionally on its version. Each paced call (or each
 * group of calls a container asks for at once) costs one conditional UpdateItem; a lost race
 * returns the item as it is (ALL_OLD), so the next try needs no read (a store that does not
 * return it is read once).
 */
const FIELDS = ["next", "backgroundNext", "rate", "cutAt", "epoch", "version"] as const;

export const dynamoDbScheduleStore = (db: DynamoDBClient, tableName: string): ScheduleStore => {
  const Key = { pk: { S: "BUDGET#iot" }, sk: { S: "" } };
  const keyOf = (operation: string) => ({ ...Key, sk: { S: operation } });
  return {
    async swap(operation, expected, next) {
      // A schedule stored without a version (an older or damaged item) is read as version 0.
      const condition = !expected
        ? "attribute_not_exists(pk)"
        : expected.version === 0
          ? "attribute_not_exists(#version)"
          : "#version = :expected";
      try {
        await db.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: keyOf(operation),
            UpdateExpression: `SET #entity = :entity, ${FIELDS.map((f) => `#${f} = :${f}`).join(", ")}`,
            ConditionExpression: condition,
            ExpressionAttributeNames: {
              "#entity": "entity",
              ...Object.fromEntries(FIELDS.map((f) => [`#${f}`, f])),
            },
            ExpressionAttributeValues: {
              ":entity": { S: "iot-budget" },
              ...Object.fromEntries(FIELDS.map((f) => [`:${f}`, { N: String(next[f]) }])),
              ...(expected && expected.version !== 0 ? { ":expected": { N: String(expected.version) } } : {}),
            },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return { swapped: true };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw toDomainError(error, "UpdateItem");
        const item =
          error.Item ??
          (
            await call("GetItem", () =>
              db.send(
                new GetItemCommand({ TableName: tableName, Key: keyOf(operation), ConsistentRead: true }),
              ),
            )
          ).Item;
        return { swapped: false, current: item ? toSchedule(item) : undefined };
      }
    },
  };
};

// Missing numbers read as a fresh schedule's: no slot taken, the ceiling's rate, no cut yet.
const toSchedule = (item: Record<string, AttributeValue>): ScheduleState => {
  const number = (field: (typeof FIELDS)[number], fallback: number) => {
    const value = Number(item[field]?.N);
    return Number.isFinite(value) ? value : fallback;
  };
  return {
    next: number("next", 0),
    backgroundNext: number("backgroundNext", 0),
    rate: number("rate", Number.POSITIVE_INFINITY),
    cutAt: number("cutAt", 0),
    epoch: number("epoch", 0),
    version: number("version", 0),
  };
};
