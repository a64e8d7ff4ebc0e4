import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from "@aws-sdk/lib-dynamodb";
import type { ParkedTimers, RotationLedger } from "#app/ports.js";
import type { RotationCampaigns } from "#app/request-rotation.js";
import { AlreadyExistsError, ConcurrentUpdateError } from "#domain/errors.js";
import type { CampaignPage, RotationCampaign, RotationTimer } from "#domain/rotation.js";
import { call, toDomainError } from "../aws-errors.js";
import { deviceReader } from "./device-ledger.js";
import { queueRetirement } from "./retirement-ledger.js";
import {
  certificateKey,
  decodeCursor,
  deviceKey,
  eventItem,
  type Item,
  page,
  stripKeys,
  tableWrites,
  transactOnce,
} from "./table.js";

/**
 * Rotations in the lifecycle table. A device's rotation is an attribute of its item, written with
 * its events (and at a commit, its new certificate) in one transaction conditional on the version
 * read. Campaigns are an item each with one item per page (`CAMPAIGN#<id>`); timers due later than
 * a queue can delay them are parked under one key, sorted by when they are due.
 */
const campaignKey = (campaignId: string) => ({ pk: `CAMPAIGN#${campaignId}`, sk: "META" });
const PAGE_PREFIX = "PAGE#";
// Pages sort as numbers: ten digits is more pages than a campaign has.
const pageKey = (campaignId: string, page: number) => ({
  pk: `CAMPAIGN#${campaignId}`,
  sk: `${PAGE_PREFIX}${String(page).padStart(10, "0")}`,
});
const TIMERS = "ROTATION_TIMERS";
const timerKey = (timer: RotationTimer) => ({
  pk: TIMERS,
  sk: `${timer.dueAt}#${timer.deviceId}#${timer.rotationId}#${timer.kind}`,
});

export const rotationLedger = (db: DynamoDBDocumentClient, tableName: string): RotationLedger => {
  const { transact, putEvent } = tableWrites(db, tableName);
  const { getDevice } = deviceReader(db, tableName);
  return {
    getDevice,

    async saveRotation(device, change) {
      const at = change.events[0]?.at ?? new Date().toISOString();
      const values: Item = {
        ":rotation": change.rotation,
        ":at": at,
        ":expected": device.version,
        ":version": device.version + 1,
        ...(change.certificate ? { ":certificate": change.certificate } : {}),
      };
      await transact("saveRotation", [
        {
          Update: {
            TableName: tableName,
            Key: deviceKey(device.deviceId),
            UpdateExpression: `SET rotation = :rotation, updatedAt = :at, #version = :version${
              change.certificate ? ", certificate = :certificate" : ""
            }`,
            ConditionExpression: "#version = :expected",
            ExpressionAttributeNames: { "#version": "version" },
            ExpressionAttributeValues: values,
          },
        },
        ...change.events.map(putEvent),
        ...(change.assigned
          ? [
              {
                Put: {
                  TableName: tableName,
                  Item: {
                    ...certificateKey(change.assigned),
                    entity: "certificate",
                    certificateId: change.assigned,
                    outcome: "ASSIGNED",
                    deviceId: device.deviceId,
                    at,
                  },
                },
              },
            ]
          : []),
        ...(change.retire ? [queueRetirement(tableName, change.retire)] : []),
      ]);
      return {
        ...device,
        rotation: change.rotation,
        ...(change.certificate ? { certificate: change.certificate } : {}),
        version: device.version + 1,
        updatedAt: at,
      };
    },

    async recordEvent(event) {
      await call("PutItem", () => db.send(new PutCommand({ TableName: tableName, Item: eventItem(event) })));
    },
  };
};

export const rotationCampaigns = (db: DynamoDBDocumentClient, tableName: string): RotationCampaigns => ({
  async createCampaign(campaign) {
    try {
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...campaignKey(campaign.campaignId), entity: "campaign", ...campaign },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
    } catch (error) {
      const failure = toDomainError(error, "createCampaign");
      if (failure instanceof ConcurrentUpdateError)
        throw new AlreadyExistsError(`campaign ${campaign.campaignId} exists`, { cause: error });
      throw failure;
    }
  },

  async getCampaign(campaignId) {
    const out = await call("GetItem", () =>
      db.send(new GetCommand({ TableName: tableName, Key: campaignKey(campaignId), ConsistentRead: true })),
    );
    return out.Item ? stripKeys<RotationCampaign>(out.Item) : undefined;
  },

  async recordPage(campaignId, recorded, last) {
    // False: recorded by an earlier delivery of the page, counted once.
    await transactOnce(db, "recordPage", [
      {
        Put: {
          TableName: tableName,
          Item: { ...pageKey(campaignId, recorded.page), entity: "campaign-page", ...recorded },
          ConditionExpression: "attribute_not_exists(pk)",
        },
      },
      {
        Update: {
          TableName: tableName,
          Key: campaignKey(campaignId),
          UpdateExpression: `ADD pagesDone :one, requested :requested, skipped :skipped${
            last ? " SET lastPage = :page" : ""
          }`,
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeValues: {
            ":one": 1,
            ":requested": recorded.deviceIds.length,
            ":skipped": recorded.skipped.length,
            ...(last ? { ":page": recorded.page } : {}),
          },
        },
      },
    ]);
  },

  async pagePages(campaignId, { limit, cursor }) {
    const pk = campaignKey(campaignId).pk;
    const out = await call("Query", () =>
      db.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": pk, ":prefix": PAGE_PREFIX },
          Limit: limit,
          ExclusiveStartKey: decodeCursor(cursor, { pk, sk: new RegExp(`^${PAGE_PREFIX}`) }),
        }),
      ),
    );
    return page(
      (out.Items ?? []).map((item) => stripKeys<CampaignPage>(item)),
      out.LastEvaluatedKey,
    );
  },
});

export const parkedTimers = (db: DynamoDBDocumentClient, tableName: string): ParkedTimers => ({
  async park(timer) {
    await call("PutItem", () =>
      db.send(
        new PutCommand({ TableName: tableName, Item: { ...timerKey(timer), entity: "timer", ...timer } }),
      ),
    );
  },

  async dueBefore(before, limit) {
    const out = await call("Query", () =>
      db.send(
        new QueryCommand({
          TableName: tableName,
          // The sort key starts with when it is due: earlier ones sort first.
          KeyConditionExpression: "pk = :pk AND sk < :before",
          ExpressionAttributeValues: { ":pk": TIMERS, ":before": before },
          Limit: limit,
          ConsistentRead: true,
        }),
      ),
    );
    return (out.Items ?? []).map((item) => stripKeys<RotationTimer>(item));
  },

  async unpark(timer) {
    await call("DeleteItem", () =>
      db.send(new DeleteCommand({ TableName: tableName, Key: timerKey(timer) })),
    );
  },
});
