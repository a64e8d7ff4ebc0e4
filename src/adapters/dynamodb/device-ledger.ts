import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { DeviceLedger } from "#app/ports.js";
import type { Device, DeviceEvent } from "#domain/device.js";
import { retirementAfter } from "#domain/retirement.js";
import { call } from "../aws-errors.js";
import { queueRetirement } from "./retirement-ledger.js";
import {
  ANY,
  BATCH_INDEX,
  decodeCursor,
  deviceKey,
  EVENT_PREFIX,
  type Item,
  page,
  STATE_INDEX,
  stripKeys,
  tableWrites,
} from "./table.js";

/**
 * Devices read by key and paged by state or batch, and nothing else: what a function that only
 * reads devices bundles (it then holds none of the table's writes).
 */
export const deviceReader = (
  db: DynamoDBDocumentClient,
  tableName: string,
): Pick<DeviceLedger, "getDevice" | "pageDevices"> => ({
  async getDevice(deviceId) {
    const out = await call("GetItem", () =>
      db.send(new GetCommand({ TableName: tableName, Key: deviceKey(deviceId), ConsistentRead: true })),
    );
    return out.Item ? stripKeys<Device>(out.Item) : undefined;
  },

  async pageDevices(query, { limit, cursor }) {
    const [index, attribute, value, sortAttribute] =
      "state" in query
        ? [STATE_INDEX, "gsi1pk", `STATE#${query.state}`, "gsi1sk"]
        : [BATCH_INDEX, "gsi2pk", `BATCH#${query.batchId}`, "gsi2sk"];
    const out = await call("Query", () =>
      db.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: index,
          KeyConditionExpression: `${attribute} = :value`,
          ExpressionAttributeValues: { ":value": value },
          Limit: limit,
          ExclusiveStartKey: decodeCursor(cursor, {
            [attribute]: value,
            [sortAttribute]: ANY,
            pk: /^DEVICE#/,
            sk: "STATE",
          }),
        }),
      ),
    );
    return page(
      (out.Items ?? []).map((item) => stripKeys<Device>(item)),
      out.LastEvaluatedKey,
    );
  },
});

/** Devices and their history: read, paged, and moved by a conditional transition with its event. */
export const deviceLedger = (db: DynamoDBDocumentClient, tableName: string): DeviceLedger => {
  const { transact, moveDevice, putEvent } = tableWrites(db, tableName);
  return {
    ...deviceReader(db, tableName),
    async listEvents(deviceId) {
      const events: DeviceEvent[] = [];
      let cursor: Item | undefined;
      do {
        const out = await call("Query", () =>
          db.send(
            new QueryCommand({
              TableName: tableName,
              KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
              ExpressionAttributeValues: { ":pk": `DEVICE#${deviceId}`, ":prefix": EVENT_PREFIX },
              ExclusiveStartKey: cursor,
            }),
          ),
        );
        for (const item of out.Items ?? []) events.push(stripKeys<DeviceEvent>(item));
        cursor = out.LastEvaluatedKey;
      } while (cursor);
      return events;
    },

    async pageEvents(deviceId, { limit, cursor, newestFirst = false }) {
      const pk = `DEVICE#${deviceId}`;
      const out = await call("Query", () =>
        db.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues: { ":pk": pk, ":prefix": EVENT_PREFIX },
            ScanIndexForward: !newestFirst,
            Limit: limit,
            ExclusiveStartKey: decodeCursor(cursor, { pk, sk: new RegExp(`^${EVENT_PREFIX}`) }),
          }),
        ),
      );
      return page(
        (out.Items ?? []).map((item) => stripKeys<DeviceEvent>(item)),
        out.LastEvaluatedKey,
      );
    },

    async transition(device, to, event) {
      // A revoked or decommissioned device's certificate waits out its retention, then is deleted.
      const why = retirementAfter(to);
      const retire = why &&
        device.certificate && {
          certificateId: device.certificate.certificateId,
          deviceId: device.deviceId,
          caCertificateId: device.caCertificateId,
          since: event.at,
          why,
        };
      await transact("transition", [
        moveDevice(device, to, { updatedAt: event.at }, []),
        putEvent(event),
        ...(retire ? [queueRetirement(tableName, retire)] : []),
      ]);
      return { ...device, state: to, version: device.version + 1, updatedAt: event.at };
    },
  };
};
