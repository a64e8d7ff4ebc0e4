import { randomUUID } from "node:crypto";
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { Page } from "#app/ports.js";
import type { BatchRecord, RecallFailure } from "#domain/batch.js";
import type { Device, DeviceEvent } from "#domain/device.js";
import { ConcurrentUpdateError, ThrottledError, ValidationError } from "#domain/errors.js";
import type { CertificateId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import { call, toDomainError } from "../aws-errors.js";

/**
 * The lifecycle table, shared by its role adapters: keys by entity (see README), item mapping,
 * cursors, and the translation of its errors. Indexes: GSI1 lists devices by state (and batches
 * under one key), GSI2 devices by batch. Every state change is a transaction conditional on the
 * version it read.
 */
export type Item = Record<string, unknown>;

export const deviceKey = (deviceId: string) => ({ pk: `DEVICE#${deviceId}`, sk: "STATE" });
export const certificateKey = (certificateId: string) => ({ pk: `CERT#${certificateId}`, sk: "CERT" });
export const batchKey = (batchId: string) => ({ pk: `BATCH#${batchId}`, sk: "META" });
export const EVENT_PREFIX = "EVENT#";

export const STATE_INDEX = "gsi1";
export const BATCH_INDEX = "gsi2";

export const deviceItem = (device: Device): Item => ({
  ...deviceKey(device.deviceId),
  entity: "device",
  ...device,
  ...indexKeys(device.deviceId, device.state, device.batchId),
});

const indexKeys = (deviceId: string, state: DeviceState, batchId: string) => ({
  gsi1pk: `STATE#${state}`,
  gsi1sk: deviceId,
  gsi2pk: `BATCH#${batchId}`,
  gsi2sk: deviceId,
});

export const BATCHES_KEY = "BATCHES";

// Batches sit in the state index under one key, newest first, so they can be listed without a scan.
export const batchItem = (batch: BatchRecord): Item => ({
  ...batchKey(batch.batchId),
  entity: "batch",
  ...batch,
  gsi1pk: BATCHES_KEY,
  gsi1sk: `${batch.registeredAt}#${batch.batchId}`,
});

/** A stored batch; a recall's progress comes from its sets of finished pages. */
export const toBatch = (item: Item): BatchRecord => {
  const { recallPagesDone, recallPagesQueued: _queued, recallLastPage, recallFailures, ...rest } = item;
  const batch = stripKeys<BatchRecord>(rest);
  if (!batch.recall) return batch;
  const pagesDone = (recallPagesDone as Set<number> | undefined)?.size ?? 0;
  return {
    ...batch,
    recall: {
      ...batch.recall,
      pagesDone,
      ...(typeof recallLastPage === "number" ? { lastPage: recallLastPage } : {}),
      failures: (recallFailures as RecallFailure[] | undefined) ?? [],
    },
  };
};

export const stripKeys = <T>(item: Item): T => {
  const { pk: _pk, sk: _sk, entity: _e, gsi1pk: _a, gsi1sk: _b, gsi2pk: _c, gsi2sk: _d, ...rest } = item;
  return rest as T;
};

// Sorts by time, then a random suffix so two events in one millisecond never collide.
export const eventItem = (event: DeviceEvent): Item => ({
  pk: `DEVICE#${event.deviceId}`,
  sk: `${EVENT_PREFIX}${event.at}#${randomUUID().slice(0, 8)}`,
  entity: "event",
  ...event,
});

/** The writes every role shares: transactions, a device's conditional move, its event, a batch read. */
export const tableWrites = (db: DynamoDBDocumentClient, tableName: string) => {
  const transact = async (operation: string, input: TransactWriteCommandInput["TransactItems"]) => {
    try {
      await db.send(new TransactWriteCommand({ TransactItems: input }));
    } catch (error) {
      throw transactionError(error, operation);
    }
  };

  /** Moves a device from the state and version it was read in, with its event, in one transaction. */
  const moveDevice = (
    device: Device,
    to: DeviceState,
    set: Item,
    remove: string[],
    expectedCertificate?: CertificateId,
  ) => {
    const values: Item = {
      ":expected": device.version,
      ":from": device.state,
      ...Object.fromEntries(Object.entries(set).map(([name, value]) => [`:${name}`, value])),
      ":state": to,
      ":version": device.version + 1,
      ":gsi1pk": `STATE#${to}`,
    };
    const names: Record<string, string> = { "#state": "state", "#version": "version" };
    const assignments = Object.keys(set).map((name) => {
      names[`#${name}`] = name;
      return `#${name} = :${name}`;
    });
    let condition = "#version = :expected AND #state = :from";
    if (expectedCertificate) {
      names["#certificate"] = "certificate";
      values[":certificateId"] = expectedCertificate;
      condition += " AND #certificate.certificateId = :certificateId";
    }
    remove.forEach((name) => {
      names[`#${name}`] = name;
    });
    const update = `SET #state = :state, #version = :version, gsi1pk = :gsi1pk${assignments.map((a) => `, ${a}`).join("")}${
      remove.length > 0 ? ` REMOVE ${remove.map((name) => `#${name}`).join(", ")}` : ""
    }`;
    return {
      Update: {
        TableName: tableName,
        Key: deviceKey(device.deviceId),
        UpdateExpression: update,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      },
    };
  };

  const putEvent = (event: DeviceEvent) => ({ Put: { TableName: tableName, Item: eventItem(event) } });

  const readBatch = async (batchId: string) => {
    const out = await call("GetItem", () =>
      db.send(new GetCommand({ TableName: tableName, Key: batchKey(batchId), ConsistentRead: true })),
    );
    return out.Item ? toBatch(out.Item) : undefined;
  };

  return { transact, moveDevice, putEvent, readBatch };
};

export const page = <T>(items: T[], lastKey: Item | undefined): Page<T> => ({
  items,
  ...(lastKey ? { cursor: Buffer.from(JSON.stringify(lastKey)).toString("base64url") } : {}),
});

/** What each key attribute of a cursor must be: exactly a value, or of a pattern. */
export type CursorShape = Readonly<Record<string, string | RegExp>>;
export const ANY = /^/;

/**
 * Cursors are the table's own keys, base64url-encoded. One is accepted back only for the query that
 * made it: exactly the key attributes of its table or index, non-empty strings shaped like its
 * items' keys, in the query's own partition. Anything else is the caller's mistake, answered as
 * one naming the cursor (a cursor comes back through the API's query), and never reaches DynamoDB.
 */
export const decodeCursor = (cursor: string | undefined, shape: CursorShape): Item | undefined => {
  if (cursor === undefined) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalidCursor("is not a cursor");
  }
  if (typeof key !== "object" || key === null || Array.isArray(key)) throw invalidCursor("is not a cursor");
  const fits =
    Object.keys(key).length === Object.keys(shape).length &&
    Object.entries(shape).every(([name, rule]) => {
      const value = (key as Item)[name];
      return (
        typeof value === "string" &&
        value.length > 0 &&
        value.length <= MAX_KEY_LENGTH &&
        (typeof rule === "string" ? value === rule : rule.test(value))
      );
    });
  if (!fits) throw invalidCursor("is not a cursor of this query");
  return key as Item;
};

// DynamoDB's limit for a sort key, the tighter of the two.
const MAX_KEY_LENGTH = 1024;

const invalidCursor = (why: string) => new ValidationError("invalid query", [`query.cursor: ${why}`]);

export const cancellationCodes = (error: unknown): string[] =>
  error instanceof TransactionCanceledException ||
  (error as { name?: string }).name === "TransactionCanceledException"
    ? ((error as TransactionCanceledException).CancellationReasons ?? []).map(
        (reason) => reason.Code ?? "None",
      )
    : [];

export const transactionError = (error: unknown, operation: string) => {
  const codes = cancellationCodes(error);
  if (codes.some((code) => code === "ConditionalCheckFailed" || code === "TransactionConflict")) {
    return new ConcurrentUpdateError(`${operation}: ${codes.join(", ")}`, { cause: error });
  }
  if (codes.some((code) => code === "ThrottlingError" || code === "ProvisionedThroughputExceeded")) {
    return new ThrottledError(`${operation}: ${codes.join(", ")}`, { cause: error });
  }
  return toDomainError(error, operation);
};

/**
 * A transaction whose first item's condition says it was written already (a redelivery, a run
 * repeated): answers false then, true when it wrote. Any other refusal is thrown as for a
 * transaction.
 */
export const transactOnce = async (
  db: DynamoDBDocumentClient,
  operation: string,
  items: TransactWriteCommandInput["TransactItems"],
): Promise<boolean> => {
  try {
    await db.send(new TransactWriteCommand({ TransactItems: items }));
    return true;
  } catch (error) {
    if (cancellationCodes(error)[0] === "ConditionalCheckFailed") return false;
    throw transactionError(error, operation);
  }
};

// BatchGetItem takes 100 keys at most.
const BATCH_GET_KEYS = 100;

/** Reads items by key, consistently, all of them: what DynamoDB leaves unprocessed is asked again. */
export const getAll = async (
  db: DynamoDBDocumentClient,
  tableName: string,
  keys: Item[],
): Promise<Item[]> => {
  const items: Item[] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_KEYS) {
    let pending = keys.slice(start, start + BATCH_GET_KEYS);
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (attempt > 0) await backoff(attempt);
      if (attempt > 5) throw new ThrottledError("BatchGetItem: keys left unprocessed after retries");
      const out = await call("BatchGetItem", () =>
        db.send(
          new BatchGetCommand({ RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true } } }),
        ),
      );
      items.push(...(out.Responses?.[tableName] ?? []));
      pending = (out.UnprocessedKeys?.[tableName]?.Keys as Item[] | undefined) ?? [];
    }
  }
  return items;
};

export const backoff = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt) * Math.random()));
