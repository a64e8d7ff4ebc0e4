import type { KeyObject } from "node:crypto";
import { createHash } from "node:crypto";
import {
  type BatchCounts,
  type BatchRecord,
  batchIdFromDigest,
  batchOutcome,
  type RowIssue,
} from "#domain/batch.js";
import type { Device } from "#domain/device.js";
import {
  AlreadyExistsError,
  ConflictError,
  IllegalTransitionError,
  NotFoundError,
  ValidationError,
} from "#domain/errors.js";
import {
  BATCH_ID_RULE,
  type BatchId,
  type CaCertificateId,
  type CertificateId,
  isBatchId,
  isCaCertificateId,
} from "#domain/ids.js";
import {
  ManifestFormatError,
  type ManifestRow,
  type ManifestRules,
  readManifestRecords,
  validateManifestRecord,
} from "#domain/manifest.js";
import { manifestVerifier } from "#domain/manifest-signature.js";
import type { ApprovalLimits } from "#domain/replacement.js";
import { expectCertificate } from "./approve-replacement.js";
import { FirstSeenIndex } from "./first-seen-index.js";
import type {
  AllowlistWriter,
  BatchRecords,
  Clock,
  DeviceLedger,
  DeviceRegistry,
  ReplacementApprovals,
} from "./ports.js";
import type { PreRegistration, SuppliedCertificate } from "./pre-register.js";

export interface BatchDeps {
  readonly store: AllowlistWriter &
    Pick<BatchRecords, "getBatch" | "createBatch" | "finishBatch"> &
    Pick<DeviceLedger, "getDevice"> &
    Pick<ReplacementApprovals, "putApproval">;
  readonly clock: Clock;
  readonly manifestRules: ManifestRules;
  /** IoT Core's CAs: a batch is registered only under one its devices can connect through. */
  readonly caRegistry: Pick<DeviceRegistry, "describeCaCertificate">;
  /** When set, every manifest must carry a valid signature by one of these keys. */
  readonly factoryKeys?: readonly KeyObject[];
  /** How long a replacement row's approval lives; without it, replacement rows are refused. */
  readonly approvalLimits?: ApprovalLimits;
}

export interface BatchRequest {
  /** Opens the manifest for reading; called twice (check, then write), so a stream is never held whole. */
  readonly open: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** The CA of the batch's certificates; none for a batch born only through fleet provisioning. */
  readonly caCertificateId?: string;
  readonly batchId?: string;
  /** Base64 detached signature of the manifest bytes. */
  readonly signature?: string;
  readonly actor: string;
  readonly source: string;
  /**
   * When given, rows may carry certificates: those of the rows written to the allowlist are handed
   * to it before the batch is finished, so an interrupted pre-registration resumes with the manifest.
   */
  readonly preRegister?: (
    caCertificateId: CaCertificateId,
    certificates: readonly SuppliedCertificate[],
  ) => Promise<PreRegistration>;
}

export interface BatchResult {
  readonly batch: BatchRecord;
  /** True when this manifest was registered before and nothing changed. */
  readonly replay: boolean;
  /** Bad rows by line number; at most MAX_REPORTED_ISSUES of them (the counts have them all). */
  readonly issues: readonly RowIssue[];
}

/** Manifest-wide inline answers and batch records list this many bad rows; the counts have all. */
export const MAX_REPORTED_ISSUES = 1000;
// Rows per allowlist write (DynamoDB's TransactWriteItems limit), and writes in flight at once.
const WRITE_CHUNK = 100;
const WRITES_IN_FLIGHT = 4;

/**
 * Puts a manifest's devices on the allowlist, streaming it twice: first to check it whole (digest,
 * signature, every row), so that a manifest refused for its format or signature leaves no trace;
 * then to write its valid rows. An entry is never overwritten: a device of another batch or with
 * other pins is a conflict. The same manifest again changes nothing and says so; an interrupted
 * registration finishes when sent again.
 */
export const registerBatch = async (deps: BatchDeps, request: BatchRequest): Promise<BatchResult> => {
  const caCertificateId =
    request.caCertificateId === undefined ? undefined : checkCa(request.caCertificateId);
  if (request.batchId !== undefined && !isBatchId(request.batchId)) {
    throw new ValidationError(`batch id ${JSON.stringify(request.batchId)} must be ${BATCH_ID_RULE}`);
  }
  const checked = await checkManifest(deps, request);
  const batchId = (request.batchId as BatchId | undefined) ?? batchIdFromDigest(checked.manifestSha256);

  const existing = await deps.store.getBatch(batchId);
  if (existing && existing.manifestSha256 !== checked.manifestSha256) {
    throw new AlreadyExistsError(
      `batch ${batchId} was registered from a different manifest (sha256 ${existing.manifestSha256})`,
    );
  }
  if (existing && existing.caCertificateId !== caCertificateId) {
    throw new ConflictError(
      `batch ${batchId} was registered under ${caText(existing.caCertificateId)}, not ${caText(caCertificateId)}: a batch keeps its CA; register the manifest under another batch id to use another CA`,
    );
  }
  if (existing && existing.state !== "RECEIVED") {
    return { batch: existing, replay: true, issues: existing.issues ?? [] };
  }
  const warnings = caCertificateId ? await checkCaStanding(deps, caCertificateId) : [];

  const now = deps.clock.now().toISOString();
  const received: BatchRecord = {
    batchId,
    ...(caCertificateId ? { caCertificateId } : {}),
    manifestSha256: checked.manifestSha256,
    source: request.source,
    state: "RECEIVED",
    registeredBy: existing?.registeredBy ?? request.actor,
    registeredAt: existing?.registeredAt ?? now,
    updatedAt: now,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
  if (!existing) await deps.store.createBatch(received);

  let written: Awaited<ReturnType<typeof writeRows>>;
  try {
    written = await writeRows(deps, request, checked, batchId, caCertificateId, now);
  } catch (error) {
    if (!(error instanceof ManifestChangedError)) throw error;
    const message = `manifest changed after it was checked (${error.message}): registration stopped there; rows before it were written as checked`;
    await deps.store.finishBatch({
      ...received,
      state: "FAILED",
      error: message,
      updatedAt: deps.clock.now().toISOString(),
    });
    throw new ValidationError(message);
  }
  const conflicts = written.conflicts;
  const pre =
    caCertificateId && request.preRegister && written.certificates.length > 0
      ? await request.preRegister(caCertificateId, written.certificates)
      : undefined;
  const counts: BatchCounts = {
    rows: checked.rows,
    accepted: checked.valid - conflicts.count,
    duplicates: checked.duplicates,
    conflicts: conflicts.count,
    invalid: checked.invalid,
    ...(pre ? { certificates: { registered: pre.registered, refused: pre.refused } } : {}),
  };
  const issues = [...checked.issues, ...conflicts.issues, ...(pre?.issues ?? [])]
    .sort((a, b) => a.line - b.line)
    .slice(0, MAX_REPORTED_ISSUES);
  const batch: BatchRecord = {
    ...received,
    state: batchOutcome(counts),
    counts,
    issues,
    updatedAt: deps.clock.now().toISOString(),
  };
  await deps.store.finishBatch(batch);
  return { batch, replay: false, issues };
};

const caText = (caCertificateId: CaCertificateId | undefined): string =>
  caCertificateId ? `CA ${caCertificateId}` : "no CA (fleet provisioning only)";

const checkCa = (caCertificateId: string): CaCertificateId => {
  if (!isCaCertificateId(caCertificateId)) {
    throw new ValidationError(
      `CA certificate id ${JSON.stringify(caCertificateId)} is not 64 hex characters`,
    );
  }
  return caCertificateId;
};

/**
 * The CA must be one IoT Core knows and keeps ACTIVE, or no device of the batch could ever connect
 * (and each would be refused with nothing in its history). Auto-registration off is accepted with
 * a warning: pre-registered certificates (and JITP) do not need it.
 */
const checkCaStanding = async (deps: BatchDeps, caCertificateId: CaCertificateId): Promise<string[]> => {
  let ca: Awaited<ReturnType<DeviceRegistry["describeCaCertificate"]>>;
  try {
    ca = await deps.caRegistry.describeCaCertificate(caCertificateId);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    throw new ValidationError(
      `CA ${caCertificateId} is not registered with IoT Core: no device of the batch could connect`,
    );
  }
  if (ca.status !== "ACTIVE") {
    throw new ValidationError(
      `CA ${caCertificateId} is ${ca.status}: no device of the batch could connect until it is activated`,
    );
  }
  return ca.autoRegistration === "DISABLE"
    ? [
        `CA ${caCertificateId}: auto-registration is off, so IoT Core will not register these devices' certificates on first connection; only pre-registered certificates (or JITP) connect`,
      ]
    : [];
};

/** Why a row's certificate (brought, or approved as a replacement) cannot be taken with this request. */
const certificateRowRefusal = (row: ManifestRow, request: BatchRequest): string | undefined => {
  const without = "a batch without a CA (its devices born through fleet provisioning) takes no certificates";
  if (row.certificatePem && request.caCertificateId === undefined) return `certificatePem: ${without}`;
  if (row.replaces && request.caCertificateId === undefined) return `replacesCertificateSha256: ${without}`;
  if (row.certificatePem && !request.preRegister)
    return "certificatePem: certificates are pre-registered only for uploaded manifests";
  return undefined;
};

interface CheckedManifest {
  readonly manifestSha256: string;
  /** SHA-256 of each SEGMENT_BYTES of the manifest, in order: pass two checks its bytes against them. */
  readonly segments: readonly Buffer[];
  readonly rows: number;
  readonly valid: number;
  readonly invalid: number;
  readonly duplicates: number;
  readonly issues: RowIssue[];
  /** Line of each device id's first valid row, keyed by a 48-bit hash of the id to stay small. */
  readonly firstLine: FirstSeenIndex;
}

const idHash = (deviceId: string): number => createHash("sha1").update(deviceId).digest().readUIntBE(0, 6);

/** Pass one: digest, signature and every row, without writing anything. */
const checkManifest = async (deps: BatchDeps, request: BatchRequest): Promise<CheckedManifest> => {
  const digest = createHash("sha256");
  const verifier = deps.factoryKeys ? manifestVerifier(deps.factoryKeys) : undefined;
  const segments: Buffer[] = [];
  async function* tapped() {
    for await (const segment of segmentsOf(request.open())) {
      digest.update(segment);
      verifier?.update(segment);
      segments.push(sha256(segment));
      yield segment;
    }
  }
  const firstLine = new FirstSeenIndex();
  const issues: RowIssue[] = [];
  let rows = 0;
  let valid = 0;
  let invalid = 0;
  let duplicates = 0;
  const report = (issue: RowIssue) => {
    if (issues.length < MAX_REPORTED_ISSUES) issues.push(issue);
  };
  await readRows(tapped(), deps.manifestRules, (result) => {
    rows += 1;
    if (!result.ok) {
      invalid += 1;
      report(result.problem);
      return;
    }
    const refusal = certificateRowRefusal(result.row, request);
    if (refusal) {
      invalid += 1;
      report({ kind: "invalid", line: result.row.line, deviceId: result.row.deviceId, message: refusal });
      return;
    }
    const key = idHash(result.row.deviceId);
    const seen = firstLine.get(key);
    if (seen !== undefined) {
      duplicates += 1;
      report({
        kind: "duplicate",
        line: result.row.line,
        deviceId: result.row.deviceId,
        message: `duplicate of line ${seen}`,
      });
      return;
    }
    firstLine.set(key, result.row.line);
    valid += 1;
  });
  if (deps.factoryKeys) {
    if (!request.signature) throw new ValidationError("manifest signature is required and missing");
    if (!verifier?.verify(request.signature)) {
      throw new ValidationError("manifest signature does not verify under any configured factory key");
    }
  }
  return {
    manifestSha256: digest.digest("hex"),
    segments,
    rows,
    valid,
    invalid,
    duplicates,
    issues,
    firstLine,
  };
};

// Pass two holds one segment before parsing it; pass one keeps 32 bytes per segment.
const SEGMENT_BYTES = 64 * 1024;

const sha256 = (bytes: Uint8Array): Buffer => createHash("sha256").update(bytes).digest();

/** Re-cuts a byte stream into pieces of exactly SEGMENT_BYTES, the last one shorter. */
async function* segmentsOf(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Buffer> {
  let parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    for (let offset = 0; offset < chunk.length; ) {
      const take = Math.min(chunk.length - offset, SEGMENT_BYTES - size);
      parts.push(chunk.subarray(offset, offset + take));
      size += take;
      offset += take;
      if (size === SEGMENT_BYTES) {
        yield Buffer.concat(parts, size);
        parts = [];
        size = 0;
      }
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}

/** The bytes of a second read differ from those the first read checked. */
class ManifestChangedError extends Error {}

/**
 * The manifest again, each segment compared with pass one's digest of it before it is parsed: a
 * manifest replaced between the reads (an upload URL can be used again until it expires) is
 * refused at the first segment that differs, and nothing after it is written.
 */
async function* asChecked(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  expected: readonly Buffer[],
): AsyncGenerator<Buffer> {
  let index = 0;
  for await (const segment of segmentsOf(source)) {
    if (!expected[index]?.equals(sha256(segment)))
      throw new ManifestChangedError(`from byte ${index * SEGMENT_BYTES}`);
    index += 1;
    yield segment;
  }
  // A shorter manifest ends only once this is known, so its last line is never parsed cut short.
  if (index !== expected.length) throw new ManifestChangedError(`it ends at byte ${index * SEGMENT_BYTES}`);
}

type RowResult = { ok: true; row: ManifestRow } | { ok: false; problem: RowIssue };

/** Reads and validates every record; a manifest that cannot be read at all is a ValidationError. */
const readRows = async (
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  rules: ManifestRules,
  onRow: (result: RowResult) => void | Promise<void>,
): Promise<void> => {
  try {
    for await (const record of readManifestRecords(source)) {
      await onRow(
        "error" in record
          ? { ok: false, problem: { kind: "invalid", line: record.line, message: record.error } }
          : asRowResult(validateManifestRecord(record.record, record.line, rules)),
      );
    }
  } catch (error) {
    // Only the manifest's own format is the caller's fault; a failed write or read is not.
    if (!(error instanceof ManifestFormatError)) throw error;
    throw new ValidationError(`manifest cannot be read: ${error.message}`);
  }
};

const asRowResult = (result: ReturnType<typeof validateManifestRecord>): RowResult =>
  result.ok ? result : { ok: false, problem: { kind: "invalid", ...result.problem } };

/** Pass two: the valid, first-seen rows, written in chunks; returns the conflicts it met. */
const writeRows = async (
  deps: BatchDeps,
  request: BatchRequest,
  checked: CheckedManifest,
  batchId: BatchId,
  caCertificateId: CaCertificateId | undefined,
  now: string,
): Promise<{
  conflicts: { count: number; issues: RowIssue[] };
  certificates: SuppliedCertificate[];
  replacements: ManifestRow[];
}> => {
  const issues: RowIssue[] = [];
  const replacements: ManifestRow[] = [];
  const conflicted = new Set<number>();
  let count = 0;
  let chunk: ManifestRow[] = [];
  const supplied: SuppliedCertificate[] = [];
  const inFlight = new Set<Promise<void>>();
  const flush = (rows: ManifestRow[]) => {
    const write = deps.store
      .addDevices(rows.map((row) => toDevice(row, batchId, caCertificateId, now)))
      .then((results) => {
        results.forEach((result, index) => {
          if (result.kind !== "conflict") return;
          count += 1;
          const row = rows[index];
          if (row) conflicted.add(row.line);
          if (issues.length < MAX_REPORTED_ISSUES) {
            issues.push({
              kind: "conflict",
              line: row?.line ?? 0,
              ...(row ? { deviceId: row.deviceId } : {}),
              message: result.reason,
            });
          }
        });
      });
    const tracked = write.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    // Failures surface through the race or the final wait below; this only keeps Node from calling them unhandled.
    tracked.catch(() => undefined);
    return tracked;
  };
  const reading = readRows(
    asChecked(request.open(), checked.segments),
    deps.manifestRules,
    async (result) => {
      if (!result.ok || checked.firstLine.get(idHash(result.row.deviceId)) !== result.row.line) return;
      if (result.row.certificatePem && request.preRegister) {
        supplied.push({
          line: result.row.line,
          deviceId: result.row.deviceId,
          pem: result.row.certificatePem,
        });
      }
      // A replacement row approves a certificate for a device provisioned already: no new entry.
      if (result.row.replaces) {
        replacements.push(result.row);
        return;
      }
      chunk.push(result.row);
      if (chunk.length < WRITE_CHUNK) return;
      void flush(chunk);
      chunk = [];
      if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
    },
  );
  try {
    await reading;
  } catch (error) {
    // Settle the writes under way before the caller records what happened.
    await Promise.allSettled(inFlight);
    throw error;
  }
  if (chunk.length > 0) void flush(chunk);
  await Promise.all(inFlight);
  // Replacement rows of a batch without a CA were refused while checking.
  if (caCertificateId)
    for (const row of replacements) {
      const refused = await approveReplacement(deps, request, row, batchId, caCertificateId);
      if (!refused) continue;
      count += 1;
      conflicted.add(row.line);
      if (issues.length < MAX_REPORTED_ISSUES) issues.push(refused);
    }
  // A conflicting row's certificate belongs to someone else's entry: it is not pre-registered.
  return {
    conflicts: { count, issues },
    certificates: supplied.filter((c) => !conflicted.has(c.line)),
    replacements,
  };
};

/**
 * A replacement row approves its certificate, as `fleetgate device expect-cert` does, with the
 * registrant as approver; the row must name the certificate the device holds, and the batch its
 * CA. Its certificate, when the row brings it, is pre-registered after, and provisioned at once.
 * Answers the row's conflict when the device is not as the row says.
 */
const approveReplacement = async (
  deps: BatchDeps,
  request: BatchRequest,
  row: ManifestRow,
  batchId: BatchId,
  caCertificateId: CaCertificateId,
): Promise<RowIssue | undefined> => {
  const conflict = (message: string): RowIssue => ({
    kind: "conflict",
    line: row.line,
    deviceId: row.deviceId,
    message,
  });
  if (!deps.approvalLimits) return conflict("this deployment takes no replacement rows");
  try {
    await expectCertificate(
      { store: deps.store, clock: deps.clock, approvalLimits: deps.approvalLimits },
      {
        deviceId: row.deviceId,
        certificateSha256: row.pins.certificateSha256 as CertificateId,
        actor: request.actor,
        reason: `manifest of batch ${batchId}, line ${row.line}`,
        expected: { replaces: row.replaces as string, caCertificateId },
      },
    );
    return undefined;
  } catch (error) {
    if (
      error instanceof NotFoundError ||
      error instanceof ConflictError ||
      error instanceof IllegalTransitionError
    )
      return conflict(error.message);
    throw error;
  }
};

const toDevice = (
  row: ManifestRow,
  batchId: BatchId,
  caCertificateId: CaCertificateId | undefined,
  now: string,
): Device => ({
  deviceId: row.deviceId,
  state: "ALLOWED",
  batchId,
  ...(caCertificateId ? { caCertificateId } : {}),
  ...(row.model ? { model: row.model } : {}),
  attributes: row.attributes,
  pins: row.pins,
  version: 1,
  createdAt: now,
  updatedAt: now,
});
