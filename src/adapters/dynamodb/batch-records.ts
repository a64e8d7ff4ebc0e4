import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { BatchRecords } from "#app/ports.js";
import type { BatchRecord } from "#domain/batch.js";
import { AlreadyExistsError, ConcurrentUpdateError } from "#domain/errors.js";
import { call, toDomainError } from "../aws-errors.js";
import {
  ANY,
  BATCHES_KEY,
  batchItem,
  decodeCursor,
  page,
  STATE_INDEX,
  stripKeys,
  tableWrites,
} from "./table.js";

/** Batch records: created once, finished with their counts, listed newest first. */
export const batchRecords = (db: DynamoDBDocumentClient, tableName: string): BatchRecords => {
  const { readBatch } = tableWrites(db, tableName);
  return {
    getBatch: readBatch,

    async createBatch(batch) {
      try {
        await db.send(
          new PutCommand({
            TableName: tableName,
            Item: batchItem(batch),
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        );
      } catch (error) {
        const mapped = toDomainError(error, "createBatch");
        throw mapped instanceof ConcurrentUpdateError
          ? new AlreadyExistsError(`batch ${batch.batchId} exists`)
          : mapped;
      }
    },

    async finishBatch(batch) {
      await call("PutItem", () =>
        db.send(
          new PutCommand({
            TableName: tableName,
            Item: batchItem(batch),
            ConditionExpression: "attribute_exists(pk)",
          }),
        ),
      );
    },

    async pageBatches({ limit, cursor }) {
      const out = await call("Query", () =>
        db.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: STATE_INDEX,
            KeyConditionExpression: "gsi1pk = :batches",
            ExpressionAttributeValues: { ":batches": BATCHES_KEY },
            ScanIndexForward: false,
            Limit: limit,
            ExclusiveStartKey: decodeCursor(cursor, {
              gsi1pk: BATCHES_KEY,
              gsi1sk: ANY,
              pk: /^BATCH#/,
              sk: "META",
            }),
          }),
        ),
      );
      return page(
        (out.Items ?? []).map((item) => stripKeys<BatchRecord>(item)),
        out.LastEvaluatedKey,
      );
    },
  };
};
