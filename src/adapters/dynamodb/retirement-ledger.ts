import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { RetirementLedger } from "#app/ports.js";
import { ConcurrentUpdateError } from "#domain/errors.js";
import type { RetirableCertificate } from "#domain/retirement.js";
import { call } from "../aws-errors.js";
import {
  ANY,
  certificateKey,
  decodeCursor,
  eventItem,
  type Item,
  page,
  STATE_INDEX,
  transactOnce,
} from "./table.js";

/**
 * The retirement queue is the certificate records themselves: a record waiting out its retention
 * sits in the state index under one key, ordered by when it stopped being usable, so the job reads
 * the oldest due ones first without a scan. Retiring takes it out of the index and keeps the record.
 */
const QUEUE = "RETIRE";
const CHECKPOINT_KEY = { pk: "RETIREMENT", sk: "CHECKPOINT" };

/**
 * The update that queues a certificate, for a transaction of whoever retires it (a replacement, a
 * revocation, a refusal). A certificate queued before keeps its first time; `set` adds attributes.
 */
export const queueRetirement = (tableName: string, certificate: RetirableCertificate, set: Item = {}) => {
  const optional: Item = {
    ...(certificate.deviceId ? { deviceId: certificate.deviceId } : {}),
    ...(certificate.caCertificateId ? { caCertificateId: certificate.caCertificateId } : {}),
  };
  const assignments = [
    "entity = :entity",
    "certificateId = :id",
    "gsi1pk = :queue",
    "gsi1sk = if_not_exists(gsi1sk, :position)",
    "retirableSince = if_not_exists(retirableSince, :since)",
    "retireWhy = if_not_exists(retireWhy, :why)",
    ...Object.keys(optional).map((name) => `${name} = if_not_exists(${name}, :${name})`),
    ...Object.keys(set).map((name) => `${name} = :${name}`),
  ];
  return {
    Update: {
      TableName: tableName,
      Key: certificateKey(certificate.certificateId),
      UpdateExpression: `SET ${assignments.join(", ")}`,
      ExpressionAttributeValues: {
        ":entity": "certificate",
        ":id": certificate.certificateId,
        ":queue": QUEUE,
        ":position": `${certificate.since}#${certificate.certificateId}`,
        ":since": certificate.since,
        ":why": certificate.why,
        ...Object.fromEntries(
          Object.entries({ ...optional, ...set }).map(([name, value]) => [`:${name}`, value]),
        ),
      },
    },
  };
};

/** The attributes of a record written whole (a refusal) that put it in the queue. */
export const retirementAttributes = (certificate: RetirableCertificate): Item => ({
  gsi1pk: QUEUE,
  gsi1sk: `${certificate.since}#${certificate.certificateId}`,
  retirableSince: certificate.since,
  retireWhy: certificate.why,
});

const toRetirable = (item: Item): RetirableCertificate =>
  ({
    certificateId: item.certificateId,
    ...(item.deviceId ? { deviceId: item.deviceId } : {}),
    ...(item.caCertificateId ? { caCertificateId: item.caCertificateId } : {}),
    since: item.retirableSince,
    why: item.retireWhy,
  }) as RetirableCertificate;

export const retirementLedger = (db: DynamoDBDocumentClient, tableName: string): RetirementLedger => ({
  async pageRetirable({ before, caCertificateId }, { limit, cursor }) {
    const out = await call("Query", () =>
      db.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: STATE_INDEX,
          KeyConditionExpression: "gsi1pk = :queue AND gsi1sk < :before",
          ...(caCertificateId ? { FilterExpression: "caCertificateId = :ca" } : {}),
          ExpressionAttributeValues: {
            ":queue": QUEUE,
            ":before": before,
            ...(caCertificateId ? { ":ca": caCertificateId } : {}),
          },
          Limit: limit,
          ExclusiveStartKey: decodeCursor(cursor, { gsi1pk: QUEUE, gsi1sk: ANY, pk: /^CERT#/, sk: "CERT" }),
        }),
      ),
    );
    return page((out.Items ?? []).map(toRetirable), out.LastEvaluatedKey);
  },

  async scheduleRetirement(certificate) {
    const { Update } = queueRetirement(tableName, certificate);
    await call("UpdateItem", () => db.send(new UpdateCommand(Update)));
  },

  async recordRetired(certificate, at, event) {
    const key = certificateKey(certificate.certificateId);
    const wrote = await transactOnce(db, "recordRetired", [
      {
        Update: {
          TableName: tableName,
          Key: key,
          UpdateExpression: "SET retiredAt = :at REMOVE gsi1pk, gsi1sk",
          ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(retiredAt)",
          ExpressionAttributeValues: { ":at": at },
        },
      },
      ...(event ? [{ Put: { TableName: tableName, Item: eventItem(event) } }] : []),
    ]);
    if (wrote) return true;
    // Retired before (queued again since, or a repeated run): only take it off the queue.
    await call("UpdateItem", () =>
      db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: "REMOVE gsi1pk, gsi1sk",
          ConditionExpression: "attribute_exists(pk)",
        }),
      ),
    ).catch((error: unknown) => {
      if (!(error instanceof ConcurrentUpdateError)) throw error;
    });
    return false;
  },

  async readRetirementCheckpoint() {
    const out = await call("GetItem", () =>
      db.send(new GetCommand({ TableName: tableName, Key: CHECKPOINT_KEY, ConsistentRead: true })),
    );
    const cursor = out.Item?.cursor;
    return typeof cursor === "string" && cursor.length > 0 ? cursor : undefined;
  },

  async saveRetirementCheckpoint(cursor) {
    await call("PutItem", () =>
      db.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...CHECKPOINT_KEY, entity: "checkpoint", ...(cursor ? { cursor } : {}) },
        }),
      ),
    );
  },
});
