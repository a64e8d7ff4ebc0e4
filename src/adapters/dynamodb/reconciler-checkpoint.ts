import { type DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { ReconcilerCheckpoint } from "#app/ports.js";
import { call } from "../aws-errors.js";

const KEY = { pk: "RECONCILER", sk: "CHECKPOINT" };

/** The scheduled reconciler's checkpoint: one item of the lifecycle table. */
export const reconcilerCheckpoint = (
  db: DynamoDBDocumentClient,
  tableName: string,
): ReconcilerCheckpoint => ({
  async readCheckpoint() {
    const out = await call("GetItem", () =>
      db.send(new GetCommand({ TableName: tableName, Key: KEY, ConsistentRead: true })),
    );
    const cursor = out.Item?.cursor;
    return typeof cursor === "string" && cursor.length > 0 ? cursor : undefined;
  },

  async saveCheckpoint(cursor) {
    await call("PutItem", () =>
      db.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...KEY, entity: "checkpoint", ...(cursor ? { cursor } : {}), at: new Date().toISOString() },
        }),
      ),
    );
  },
});
