import { type BatchCounts, type BatchRecord, batchIdFromDigest, batchOutcome } from "#domain/batch.js";
import type { Device } from "#domain/device.js";
import { AlreadyExistsError, ValidationError } from "#domain/errors.js";
import {
  BATCH_ID_RULE,
  type BatchId,
  type CaCertificateId,
  isBatchId,
  isCaCertificateId,
} from "#domain/ids.js";
import {
  type ManifestRow,
  type ManifestRules,
  manifestDigest,
  type RowProblem,
  readManifestRecords,
  validateManifestRecord,
} from "#domain/manifest.js";
import type { Clock, LifecycleStore } from "./ports.js";

export interface BatchDeps {
  readonly store: LifecycleStore;
  readonly clock: Clock;
  readonly manifestRules: ManifestRules;
}

export interface BatchRequest {
  readonly manifest: Uint8Array;
  readonly caCertificateId: string;
  readonly batchId?: string;
  readonly actor: string;
  readonly source: string;
}

export type RowIssue = RowProblem & { readonly kind: "invalid" | "duplicate" | "conflict" };

export interface BatchResult {
  readonly batch: BatchRecord;
  /** True when this manifest was registered before and nothing changed. */
  readonly replay: boolean;
  readonly issues: readonly RowIssue[];
}

// Allowlist writes go out in groups: enough to keep DynamoDB busy, few enough to stay far from throttling.
const WRITE_GROUP = 25;

/**
 * Puts a manifest's devices on the allowlist. Never overwrites an entry: a device that exists
 * elsewhere or differently is a conflict. The same manifest again changes nothing and says so.
 */
export const registerBatch = async (deps: BatchDeps, request: BatchRequest): Promise<BatchResult> => {
  const { caCertificateId, batchId, manifestSha256 } = identify(request);
  const existing = await deps.store.getBatch(batchId);
  if (existing && existing.manifestSha256 !== manifestSha256) {
    throw new AlreadyExistsError(
      `batch ${batchId} was registered from a different manifest (sha256 ${existing.manifestSha256})`,
    );
  }
  if (existing && existing.state !== "RECEIVED") return { batch: existing, replay: true, issues: [] };

  // Read the whole manifest before writing anything: a manifest that cannot be read leaves no trace.
  const { rows, issues } = await validateRows(request.manifest, deps.manifestRules);
  const now = deps.clock.now().toISOString();
  if (!existing) {
    await deps.store.createBatch({
      batchId,
      caCertificateId,
      manifestSha256,
      source: request.source,
      state: "RECEIVED",
      registeredBy: request.actor,
      registeredAt: now,
      updatedAt: now,
    });
  }
  const devices = rows.map((row) => toDevice(row, batchId, caCertificateId, now));
  let accepted = 0;
  let unchanged = 0;
  for (let start = 0; start < devices.length; start += WRITE_GROUP) {
    const group = devices.slice(start, start + WRITE_GROUP);
    const results = await deps.store.addDevices(group);
    results.forEach((result, index) => {
      if (result.kind === "added") accepted += 1;
      else if (result.kind === "unchanged") unchanged += 1;
      else {
        const row = rows[start + index];
        issues.push({
          kind: "conflict",
          line: row?.line ?? 0,
          deviceId: row?.deviceId,
          message: result.reason,
        });
      }
    });
  }
  const counts: BatchCounts = {
    rows: rows.length + issues.filter((issue) => issue.kind !== "conflict").length,
    accepted,
    unchanged,
    duplicates: issues.filter((issue) => issue.kind === "duplicate").length,
    conflicts: issues.filter((issue) => issue.kind === "conflict").length,
    invalid: issues.filter((issue) => issue.kind === "invalid").length,
  };
  const state = batchOutcome(counts);
  const finishedAt = deps.clock.now().toISOString();
  await deps.store.finishBatch(batchId, state, counts, finishedAt);
  issues.sort((a, b) => a.line - b.line);
  const batch: BatchRecord = {
    batchId,
    caCertificateId,
    manifestSha256,
    source: request.source,
    state,
    counts,
    registeredBy: existing?.registeredBy ?? request.actor,
    registeredAt: existing?.registeredAt ?? now,
    updatedAt: finishedAt,
  };
  return { batch, replay: false, issues };
};

const identify = (
  request: BatchRequest,
): { caCertificateId: CaCertificateId; batchId: BatchId; manifestSha256: string } => {
  if (!isCaCertificateId(request.caCertificateId)) {
    throw new ValidationError(
      `CA certificate id ${JSON.stringify(request.caCertificateId)} is not 64 hex characters`,
    );
  }
  if (request.batchId !== undefined && !isBatchId(request.batchId)) {
    throw new ValidationError(`batch id ${JSON.stringify(request.batchId)} must be ${BATCH_ID_RULE}`);
  }
  const manifestSha256 = manifestDigest(request.manifest);
  return {
    caCertificateId: request.caCertificateId,
    batchId: (request.batchId as BatchId | undefined) ?? batchIdFromDigest(manifestSha256),
    manifestSha256,
  };
};

/** Valid rows, and every invalid or duplicate one with its line number. */
export const validateRows = async (
  manifest: Uint8Array,
  rules: ManifestRules,
): Promise<{ rows: ManifestRow[]; issues: RowIssue[] }> => {
  const rows: ManifestRow[] = [];
  const issues: RowIssue[] = [];
  const firstLine = new Map<string, number>();
  try {
    for await (const record of readManifestRecords([manifest])) {
      if ("error" in record) {
        issues.push({ kind: "invalid", line: record.line, message: record.error });
        continue;
      }
      const result = validateManifestRecord(record.record, record.line, rules);
      if (!result.ok) {
        issues.push({ kind: "invalid", ...result.problem });
        continue;
      }
      const seen = firstLine.get(result.row.deviceId);
      if (seen !== undefined) {
        issues.push({
          kind: "duplicate",
          line: record.line,
          deviceId: result.row.deviceId,
          message: `duplicate of line ${seen}`,
        });
        continue;
      }
      firstLine.set(result.row.deviceId, record.line);
      rows.push(result.row);
    }
  } catch (error) {
    throw new ValidationError(
      `manifest cannot be read: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return { rows, issues };
};

const toDevice = (
  row: ManifestRow,
  batchId: BatchId,
  caCertificateId: CaCertificateId,
  now: string,
): Device => ({
  deviceId: row.deviceId,
  state: "ALLOWED",
  batchId,
  caCertificateId,
  ...(row.model ? { model: row.model } : {}),
  attributes: row.attributes,
  pins: row.pins,
  version: 1,
  createdAt: now,
  updatedAt: now,
});
