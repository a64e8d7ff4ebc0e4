import { randomUUID } from "node:crypto";
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { AddDeviceResult, LifecycleStore, Page, ProvisioningState } from "#app/ports.js";
import type { BatchRecord, RecallFailure } from "#domain/batch.js";
import type { CertificateRecord, Device, DeviceEvent } from "#domain/device.js";
import {
  AlreadyExistsError,
  ConcurrentUpdateError,
  ThrottledError,
  ValidationError,
} from "#domain/errors.js";
import type { CertificateId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import { call, toDomainError } from "./aws-errors.js";

/**
 * The lifecycle table: one table, keys by entity (see README). Indexes: GSI1 lists devices by
 * state, GSI2 devices by batch. Every state change is a transaction conditional on the version.
 */
type Item = Record<string, unknown>;

const deviceKey = (deviceId: string) => ({ pk: `DEVICE#${deviceId}`, sk: "STATE" });
const certificateKey = (certificateId: string) => ({ pk: `CERT#${certificateId}`, sk: "CERT" });
const batchKey = (batchId: string) => ({ pk: `BATCH#${batchId}`, sk: "META" });
const EVENT_PREFIX = "EVENT#";

export const STATE_INDEX = "gsi1";
export const BATCH_INDEX = "gsi2";

const deviceItem = (device: Device): Item => ({
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
const batchItem = (batch: BatchRecord): Item => ({
  ...batchKey(batch.batchId),
  entity: "batch",
  ...batch,
  gsi1pk: BATCHES_KEY,
  gsi1sk: `${batch.registeredAt}#${batch.batchId}`,
});

/** A stored batch; a recall's progress comes from its sets of finished pages. */
const toBatch = (item: Item): BatchRecord => {
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

const stripKeys = <T>(item: Item): T => {
  const { pk: _pk, sk: _sk, entity: _e, gsi1pk: _a, gsi1sk: _b, gsi2pk: _c, gsi2sk: _d, ...rest } = item;
  return rest as T;
};

// Sorts by time, then a random suffix so two events in one millisecond never collide.
const eventItem = (event: DeviceEvent): Item => ({
  pk: `DEVICE#${event.deviceId}`,
  sk: `${EVENT_PREFIX}${event.at}#${randomUUID().slice(0, 8)}`,
  entity: "event",
  ...event,
});

export const dynamoDbLifecycleStore = (db: DynamoDBDocumentClient, tableName: string): LifecycleStore => {
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

  return {
    async getDevice(deviceId) {
      const out = await call("GetItem", () =>
        db.send(new GetCommand({ TableName: tableName, Key: deviceKey(deviceId), ConsistentRead: true })),
      );
      return out.Item ? stripKeys<Device>(out.Item) : undefined;
    },

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

    async transition(device, to, event) {
      await transact("transition", [moveDevice(device, to, { updatedAt: event.at }, []), putEvent(event)]);
      return { ...device, state: to, version: device.version + 1, updatedAt: event.at };
    },

    async readProvisioningState(certificateId, deviceId): Promise<ProvisioningState> {
      const keys: Item[] = [certificateKey(certificateId), ...(deviceId ? [deviceKey(deviceId)] : [])];
      const items: Item[] = [];
      let pending: Item[] = keys;
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
      const device = items.find((item) => item.sk === "STATE");
      const record = items.find((item) => item.sk === "CERT");
      return {
        ...(device ? { device: stripKeys<Device>(device) } : {}),
        ...(record ? { record: stripKeys<CertificateRecord>(record) } : {}),
      };
    },

    async claim(device, certificate, event) {
      const at = event.at;
      await transact("claim", [
        moveDevice(device, "PROVISIONING", { certificate, updatedAt: at }, []),
        {
          Put: {
            TableName: tableName,
            Item: {
              ...certificateKey(certificate.certificateId),
              entity: "certificate",
              certificateId: certificate.certificateId,
              outcome: "ASSIGNED",
              deviceId: device.deviceId,
              at,
            },
            // A certificate that waited for its manifest is claimed like a new one.
            ConditionExpression: "attribute_not_exists(pk) OR outcome = :waiting",
            ExpressionAttributeValues: { ":waiting": "WAITING" },
          },
        },
        putEvent(event),
      ]);
      return { ...device, state: "PROVISIONING", certificate, version: device.version + 1, updatedAt: at };
    },

    async activate(device, event) {
      await transact("activate", [
        moveDevice(device, "ACTIVE", { updatedAt: event.at }, [], device.certificate?.certificateId),
        putEvent(event),
      ]);
      return { ...device, state: "ACTIVE", version: device.version + 1, updatedAt: event.at };
    },

    async release(device, record, event) {
      await transact("release", [
        moveDevice(device, "ALLOWED", { updatedAt: event.at }, ["certificate"], record.certificateId),
        {
          Put: {
            TableName: tableName,
            Item: { ...certificateKey(record.certificateId), entity: "certificate", ...record },
          },
        },
        putEvent(event),
      ]);
    },

    async recordRefusal(record, event) {
      try {
        await db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: tableName,
                  Item: { ...certificateKey(record.certificateId), entity: "certificate", ...record },
                  ConditionExpression: "attribute_not_exists(pk) OR outcome <> :rejected",
                  ExpressionAttributeValues: { ":rejected": "REJECTED" },
                },
              },
              ...(event ? [putEvent(event)] : []),
            ],
          }),
        );
        return true;
      } catch (error) {
        // Recorded by an earlier delivery: nothing new to say.
        if (cancellationCodes(error)[0] === "ConditionalCheckFailed") return false;
        throw transactionError(error, "recordRefusal");
      }
    },

    async recordWaiting(sighting) {
      const { at, certificateId, deviceId, caCertificateId, refusal } = sighting;
      // Conditional on still waiting: a claim or a refusal made meanwhile stands (ConcurrentUpdateError).
      const out = await call("UpdateItem", () =>
        db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: certificateKey(certificateId),
            UpdateExpression: `SET entity = :entity, certificateId = :id, outcome = :waiting, refusal = :refusal, caCertificateId = :ca, firstSeenAt = if_not_exists(firstSeenAt, :at), lastSeenAt = :at${deviceId ? ", deviceId = :device" : ""} ADD attempts :one`,
            ConditionExpression: "attribute_not_exists(pk) OR outcome = :waiting",
            ExpressionAttributeValues: {
              ":entity": "certificate",
              ":id": certificateId,
              ":waiting": "WAITING",
              ":refusal": refusal,
              ":ca": caCertificateId,
              ":at": at,
              ":one": 1,
              ...(deviceId ? { ":device": deviceId } : {}),
            },
            ReturnValues: "ALL_NEW",
          }),
        ),
      );
      return String(out.Attributes?.firstSeenAt ?? at);
    },

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

    async addDevices(devices) {
      const results: AddDeviceResult[] = new Array(devices.length);
      for (let start = 0; start < devices.length; start += TRANSACTION_ITEMS) {
        const indexes = devices.slice(start, start + TRANSACTION_ITEMS).map((_, offset) => start + offset);
        await addChunk(db, tableName, devices, indexes, results);
      }
      return results;
    },
  };
};

const TRANSACTION_ITEMS = 100;
const MAX_TRANSACTION_ATTEMPTS = 8;

/**
 * Writes up to 100 new entries in one transaction, each conditional on not existing, so an entry
 * is never overwritten (BatchWriteItem cannot be conditional). When the transaction is cancelled,
 * the entries that exist are classified from the returned items and the rest are sent again.
 */
const addChunk = async (
  db: DynamoDBDocumentClient,
  tableName: string,
  devices: readonly Device[],
  indexes: number[],
  results: AddDeviceResult[],
): Promise<void> => {
  let pending = indexes;
  for (let attempt = 1; pending.length > 0; attempt += 1) {
    if (attempt > MAX_TRANSACTION_ATTEMPTS)
      throw new ThrottledError(`addDevices: ${pending.length} entries still unwritten`);
    try {
      await db.send(
        new TransactWriteCommand({
          TransactItems: pending.map((index) => ({
            Put: {
              TableName: tableName,
              Item: deviceItem(devices[index] as Device),
              ConditionExpression: "attribute_not_exists(pk)",
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            },
          })),
        }),
      );
      for (const index of pending) results[index] = { kind: "added" };
      return;
    } catch (error) {
      const reasons = (error as TransactionCanceledException).CancellationReasons;
      if (!reasons || reasons.length !== pending.length) {
        const mapped = toDomainError(error, "TransactWriteItems");
        if (!mapped.transient) throw mapped;
        await backoff(attempt);
        continue;
      }
      const retry: number[] = [];
      reasons.forEach((reason, position) => {
        const index = pending[position] as number;
        if (reason.Code === "ConditionalCheckFailed") {
          const old = reason.Item ? stripKeys<Device>(unmarshall(reason.Item as never)) : undefined;
          results[index] = old
            ? compareEntry(old, devices[index] as Device)
            : { kind: "conflict", reason: "entry exists" };
        } else retry.push(index);
      });
      // Cancelled only by conflicting entries: the rest go again at once; otherwise (a race, throttling) after a pause.
      const onlyConflicts =
        reasons.some((reason) => reason.Code === "ConditionalCheckFailed") &&
        reasons.every((reason) => reason.Code === "ConditionalCheckFailed" || reason.Code === "None");
      if (onlyConflicts) attempt = 0;
      else await backoff(attempt);
      pending = retry;
    }
  }
};

/** An entry registered again is unchanged only if it is the same device of the same batch. */
const compareEntry = (existing: Device, wanted: Device): AddDeviceResult => {
  if (existing.batchId !== wanted.batchId)
    return { kind: "conflict", reason: `already registered in batch ${existing.batchId}` };
  if (existing.caCertificateId !== wanted.caCertificateId)
    return { kind: "conflict", reason: "registered under another CA" };
  if (JSON.stringify(sorted(existing.pins)) !== JSON.stringify(sorted(wanted.pins))) {
    return { kind: "conflict", reason: "registered with different pins" };
  }
  return { kind: "unchanged" };
};

const sorted = (value: object): object =>
  Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)));

const page = <T>(items: T[], lastKey: Item | undefined): Page<T> => ({
  items,
  ...(lastKey ? { cursor: Buffer.from(JSON.stringify(lastKey)).toString("base64url") } : {}),
});

/** What each key attribute of a cursor must be: exactly a value, or of a pattern. */
type CursorShape = Readonly<Record<string, string | RegExp>>;
const ANY = /^/;

/**
 * Cursors are the table's own keys, base64url-encoded. One is accepted back only for the query that
 * made it: exactly the key attributes of its table or index, non-empty strings shaped like its
 * items' keys, in the query's own partition. Anything else is the caller's mistake, answered as
 * one naming the cursor (a cursor comes back through the API's query), and never reaches DynamoDB.
 */
const decodeCursor = (cursor: string | undefined, shape: CursorShape): Item | undefined => {
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

const cancellationCodes = (error: unknown): string[] =>
  error instanceof TransactionCanceledException ||
  (error as { name?: string }).name === "TransactionCanceledException"
    ? ((error as TransactionCanceledException).CancellationReasons ?? []).map(
        (reason) => reason.Code ?? "None",
      )
    : [];

const transactionError = (error: unknown, operation: string) => {
  const codes = cancellationCodes(error);
  if (codes.some((code) => code === "ConditionalCheckFailed" || code === "TransactionConflict")) {
    return new ConcurrentUpdateError(`${operation}: ${codes.join(", ")}`, { cause: error });
  }
  if (codes.some((code) => code === "ThrottlingError" || code === "ProvisionedThroughputExceeded")) {
    return new ThrottledError(`${operation}: ${codes.join(", ")}`, { cause: error });
  }
  return toDomainError(error, operation);
};

const backoff = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt) * Math.random()));
