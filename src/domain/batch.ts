import type { BatchId, CaCertificateId } from "./ids.js";

export type BatchState = "RECEIVED" | "REGISTERED" | "PARTIAL" | "FAILED";

export interface BatchCounts {
  readonly rows: number;
  readonly accepted: number;
  readonly unchanged: number;
  readonly duplicates: number;
  readonly conflicts: number;
  readonly invalid: number;
}

export interface BatchRecord {
  readonly batchId: BatchId;
  readonly caCertificateId: CaCertificateId;
  readonly manifestSha256: string;
  readonly source: string;
  readonly state: BatchState;
  readonly counts?: BatchCounts;
  readonly registeredBy: string;
  readonly registeredAt: string;
  readonly updatedAt: string;
}

/** A batch with any rejected row is PARTIAL; one that added or kept nothing is FAILED. */
export const batchOutcome = (counts: BatchCounts): BatchState => {
  if (counts.accepted + counts.unchanged === 0) return "FAILED";
  return counts.duplicates + counts.conflicts + counts.invalid > 0 ? "PARTIAL" : "REGISTERED";
};

/** A batch id derived from the manifest, so the same manifest always lands in the same batch. */
export const batchIdFromDigest = (manifestSha256: string): BatchId =>
  `batch-${manifestSha256.slice(0, 16)}` as BatchId;
