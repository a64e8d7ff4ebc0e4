import { type DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { RecallProgress } from "#app/ports.js";
import { AlreadyExistsError, ConcurrentUpdateError } from "#domain/errors.js";
import { toDomainError } from "../aws-errors.js";
import { batchKey, tableWrites } from "./table.js";

/** A recall's progress on its batch record: started once, each page queued once, counted once. */
export const recallProgress = (db: DynamoDBDocumentClient, tableName: string): RecallProgress => {
  const { readBatch } = tableWrites(db, tableName);
  return {
    async startRecall(batchId, recall) {
      try {
        await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: batchKey(batchId),
            UpdateExpression: "SET #recall = :recall",
            ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(#recall)",
            ExpressionAttributeNames: { "#recall": "recall" },
            ExpressionAttributeValues: { ":recall": recall },
          }),
        );
      } catch (error) {
        const mapped = toDomainError(error, "startRecall");
        throw mapped instanceof ConcurrentUpdateError
          ? new AlreadyExistsError(`batch ${batchId} is already recalled`)
          : mapped;
      }
    },

    async claimRecallPage(batchId, page) {
      try {
        await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: batchKey(batchId),
            UpdateExpression: "ADD recallPagesQueued :page",
            ConditionExpression: "attribute_exists(#recall) AND NOT contains(recallPagesQueued, :number)",
            ExpressionAttributeNames: { "#recall": "recall" },
            ExpressionAttributeValues: { ":page": new Set([page]), ":number": page },
          }),
        );
        return true;
      } catch (error) {
        const mapped = toDomainError(error, "claimRecallPage");
        if (mapped instanceof ConcurrentUpdateError) return false;
        throw mapped;
      }
    },

    async recallPageDone(batchId, page, last, failures) {
      // A page is counted, and its failures added, once: a redelivered page finds itself in the set.
      try {
        await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: batchKey(batchId),
            UpdateExpression: `ADD recallPagesDone :page SET recallFailures = list_append(if_not_exists(recallFailures, :none), :failures)${last ? ", recallLastPage = :number" : ""}`,
            ConditionExpression: "attribute_exists(#recall) AND NOT contains(recallPagesDone, :number)",
            ExpressionAttributeNames: { "#recall": "recall" },
            ExpressionAttributeValues: {
              ":page": new Set([page]),
              ":number": page,
              ":none": [],
              ":failures": failures,
            },
          }),
        );
      } catch (error) {
        const mapped = toDomainError(error, "recallPageDone");
        if (!(mapped instanceof ConcurrentUpdateError)) throw mapped;
        // Counted before: nothing to add. A batch without a recall is another matter.
        if (!(await readBatch(batchId))?.recall) throw mapped;
      }
    },
  };
};
