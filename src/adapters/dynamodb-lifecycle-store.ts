import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { LifecycleStore } from "#app/ports.js";
import { allowlistWriter } from "./dynamodb/allowlist.js";
import { batchRecords } from "./dynamodb/batch-records.js";
import { deviceLedger } from "./dynamodb/device-ledger.js";
import { provisioningLedger } from "./dynamodb/provisioning-ledger.js";
import { recallProgress } from "./dynamodb/recall-progress.js";
import { replacementApprovals } from "./dynamodb/replacement-approvals.js";
import { retirementLedger } from "./dynamodb/retirement-ledger.js";

/** Every role of the lifecycle table over one DynamoDB table (src/adapters/dynamodb/). */
export const dynamoDbLifecycleStore = (db: DynamoDBDocumentClient, tableName: string): LifecycleStore => ({
  ...deviceLedger(db, tableName),
  ...provisioningLedger(db, tableName),
  ...allowlistWriter(db, tableName),
  ...batchRecords(db, tableName),
  ...recallProgress(db, tableName),
  ...replacementApprovals(db, tableName),
  ...retirementLedger(db, tableName),
});
