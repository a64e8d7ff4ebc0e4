import type { BatchId, CaCertificateId, DeviceId } from "./ids.js";
import type { RowProblem } from "./manifest.js";

/** A manifest row that was not registered, and why. */
export type RowIssue = RowProblem & { readonly kind: "invalid" | "duplicate" | "conflict" | "certificate" };

export type BatchState = "RECEIVED" | "REGISTERED" | "PARTIAL" | "FAILED";

export interface BatchCounts {
  readonly rows: number;
  readonly accepted: number;
  readonly duplicates: number;
  readonly conflicts: number;
  readonly invalid: number;
  /** Certificates the manifest brought: registered and provisioned, or refused (see the issues). */
  readonly certificates?: { readonly registered: number; readonly refused: number };
}

export interface BatchRecord {
  readonly batchId: BatchId;
  /**
   * The CA that signs its devices' certificates (JITR, JITP, pre-registration). None: its devices
   * are born only through fleet provisioning, with certificates IoT Core issues.
   */
  readonly caCertificateId?: CaCertificateId;
  readonly manifestSha256: string;
  readonly source: string;
  readonly state: BatchState;
  readonly counts?: BatchCounts;
  /** The first bad rows, by line; the counts have them all. */
  readonly issues?: readonly RowIssue[];
  readonly registeredBy: string;
  readonly registeredAt: string;
  readonly updatedAt: string;
  readonly recall?: Recall;
  /** What registration accepted but the operator should know (a CA with auto-registration off). */
  readonly warnings?: readonly string[];
  /**
   * Why a FAILED batch stopped: its manifest was refused whole (nothing registered), or changed
   * between its check and its registration (the rows before the change were registered as checked).
   */
  readonly error?: string;
}

/**
 * A batch taken off the allowlist: its devices revoked page by page, each page a queue message
 * that queues the next. Pages are counted done by their number, so a redelivered page counts once.
 */
export interface Recall {
  readonly reason: string;
  readonly requestedBy: string;
  readonly requestedAt: string;
  readonly pagesDone: number;
  /** The number of the batch's last page, once a worker reached it. */
  readonly lastPage?: number;
  /** Devices the recall could not revoke; they keep their state, so the batch's device list shows them too. */
  readonly failures?: readonly RecallFailure[];
}

export interface RecallFailure {
  readonly deviceId: DeviceId;
  readonly page: number;
  readonly reason: string;
}

export const recallState = (recall: Recall): "RECALLING" | "RECALLED" =>
  recall.lastPage !== undefined && recall.pagesDone > recall.lastPage ? "RECALLED" : "RECALLING";

/** A batch with any rejected row is PARTIAL; one that registered nothing is FAILED. */
export const batchOutcome = (counts: BatchCounts): BatchState => {
  if (counts.accepted === 0) return "FAILED";
  return counts.duplicates + counts.conflicts + counts.invalid > 0 ? "PARTIAL" : "REGISTERED";
};

/** A batch id derived from the manifest, so the same manifest always lands in the same batch. */
export const batchIdFromDigest = (manifestSha256: string): BatchId =>
  `batch-${manifestSha256.slice(0, 16)}` as BatchId;
