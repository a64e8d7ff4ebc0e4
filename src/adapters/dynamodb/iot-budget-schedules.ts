import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { toDomainError } from "../aws-errors.js";
import type { ScheduleState, ScheduleStore } from "../iot-budget.js";

/**
 * The deployment's IoT budget: one item of the lifecycle table per IoT operation
 * (`BUDGET#iot` / the operation), swapped conditionally on its version. Each paced call (or each
 * group of calls a container asks for at once) costs one conditional UpdateItem; a lost race
 * returns the item as it is (ALL_OLD), so the next try needs no read.
 */
const FIELDS = ["next", "backgroundNext", "rate", "cutAt", "epoch", "version"] as const;

export const dynamoDbScheduleStore = (db: DynamoDBClient, tableName: string): ScheduleStore => ({
  async swap(operation, expected, next) {
    try {
      await db.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { pk: { S: "BUDGET#iot" }, sk: { S: operation } },
          UpdateExpression: `SET #entity = :entity, ${FIELDS.map((f) => `#${f} = :${f}`).join(", ")}`,
          ConditionExpression: expected ? "#version = :expected" : "attribute_not_exists(pk)",
          ExpressionAttributeNames: {
            "#entity": "entity",
            ...Object.fromEntries(FIELDS.map((f) => [`#${f}`, f])),
          },
          ExpressionAttributeValues: {
            ":entity": { S: "iot-budget" },
            ...Object.fromEntries(FIELDS.map((f) => [`:${f}`, { N: String(next[f]) }])),
            ...(expected ? { ":expected": { N: String(expected.version) } } : {}),
          },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { swapped: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw toDomainError(error, "UpdateItem");
      return { swapped: false, current: error.Item ? toSchedule(error.Item) : undefined };
    }
  },
});

const toSchedule = (item: Record<string, AttributeValue>): ScheduleState | undefined => {
  const values = FIELDS.map((f) => Number(item[f]?.N));
  if (values.some((v) => !Number.isFinite(v))) return undefined;
  const [next, backgroundNext, rate, cutAt, epoch, version] = values as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { next, backgroundNext, rate, cutAt, epoch, version };
};
