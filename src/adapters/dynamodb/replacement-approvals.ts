import { type DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { ReplacementApprovals } from "#app/ports.js";
import { ConcurrentUpdateError } from "#domain/errors.js";
import type { ReplacementApproval } from "#domain/replacement.js";
import { call } from "../aws-errors.js";
import {
  ANY,
  decodeCursor,
  deviceKey,
  type Item,
  page,
  STATE_INDEX,
  stripKeys,
  tableWrites,
} from "./table.js";

/**
 * A device's pending approval is an item of its own beside the device (`DEVICE#<id>` / `APPROVAL`),
 * read with the device in provisioning's one read, and listed by expiry in the state index under
 * one key, so that expired ones can be recorded and cleared without a scan.
 */
const EXPIRING = "APPROVALS";

export const approvalKey = (deviceId: string) => ({ pk: `DEVICE#${deviceId}`, sk: "APPROVAL" });

export const approvalItem = (approval: ReplacementApproval): Item => ({
  ...approvalKey(approval.deviceId),
  entity: "approval",
  ...approval,
  gsi1pk: EXPIRING,
  gsi1sk: `${approval.expiresAt}#${approval.deviceId}`,
});

export const toApproval = (item: Item): ReplacementApproval => stripKeys<ReplacementApproval>(item);

/** Deletes the approval it is given and no other: one given again or anew meanwhile stays. */
export const useUpApproval = (tableName: string, approval: ReplacementApproval) => ({
  Delete: {
    TableName: tableName,
    Key: approvalKey(approval.deviceId),
    ConditionExpression: "certificateSha256 = :sha AND approvedAt = :approvedAt",
    ExpressionAttributeValues: { ":sha": approval.certificateSha256, ":approvedAt": approval.approvedAt },
  },
});

export const replacementApprovals = (db: DynamoDBDocumentClient, tableName: string): ReplacementApprovals => {
  const { transact, putEvent } = tableWrites(db, tableName);
  return {
    async putApproval(device, approval, event) {
      await transact("putApproval", [
        {
          // The device is as it was read (state, version, the certificate the approval replaces).
          ConditionCheck: {
            TableName: tableName,
            Key: deviceKey(device.deviceId),
            ConditionExpression:
              "#version = :version AND #state = :state AND #certificate.certificateId = :replaces",
            ExpressionAttributeNames: {
              "#version": "version",
              "#state": "state",
              "#certificate": "certificate",
            },
            ExpressionAttributeValues: {
              ":version": device.version,
              ":state": device.state,
              ":replaces": approval.replaces,
            },
          },
        },
        { Put: { TableName: tableName, Item: approvalItem(approval) } },
        putEvent(event),
      ]);
    },

    async pageExpiredApprovals(before, { limit, cursor }) {
      const out = await call("Query", () =>
        db.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: STATE_INDEX,
            KeyConditionExpression: "gsi1pk = :key AND gsi1sk < :before",
            ExpressionAttributeValues: { ":key": EXPIRING, ":before": before },
            Limit: limit,
            ExclusiveStartKey: decodeCursor(cursor, {
              gsi1pk: EXPIRING,
              gsi1sk: ANY,
              pk: /^DEVICE#/,
              sk: "APPROVAL",
            }),
          }),
        ),
      );
      return page((out.Items ?? []).map(toApproval), out.LastEvaluatedKey);
    },

    async expireApproval(approval, event) {
      try {
        await transact("expireApproval", [useUpApproval(tableName, approval), putEvent(event)]);
        return true;
      } catch (error) {
        // Used by its certificate, or given anew, since it was listed.
        if (error instanceof ConcurrentUpdateError) return false;
        throw error;
      }
    },
  };
};
