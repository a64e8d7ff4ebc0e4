import type { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { type DynamoDBDocumentClient, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { AddDeviceResult, AllowlistWriter } from "#app/ports.js";
import type { Device } from "#domain/device.js";
import { ThrottledError } from "#domain/errors.js";
import { toDomainError } from "../aws-errors.js";
import { backoff, deviceItem, stripKeys } from "./table.js";

/** The allowlist as the manufacturing line writes it: conditional puts, never an overwrite. */
export const allowlistWriter = (db: DynamoDBDocumentClient, tableName: string): AllowlistWriter => {
  return {
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
