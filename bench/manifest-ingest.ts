import { createHash } from "node:crypto";
import type { AddDeviceResult, LifecycleStore } from "#app/ports.js";
import { registerBatch } from "#app/register-batch.js";
import type { BatchRecord } from "#domain/batch.js";
import type { Device } from "#domain/device.js";
import { DEFAULT_MANIFEST_RULES, readManifestRecords, validateManifestRecord } from "#domain/manifest.js";

/**
 * Streams a generated manifest through the ingest path in this process and prints JSON:
 * rows per second for parse + validate alone, then for the whole registration (two passes, with
 * writes to a store that only counts them, as DynamoDB would hold them elsewhere), and the peak
 * resident memory. Run apart from other work: `tsx bench/manifest-ingest.ts 1000000`.
 */
const ROWS = Number(process.argv[2] ?? 1_000_000);
const CHUNK_ROWS = 2000;

function* manifest(): Generator<Buffer> {
  yield Buffer.from("deviceId,model,attr.site,publicKeySha256\n");
  for (let start = 0; start < ROWS; start += CHUNK_ROWS) {
    let text = "";
    for (let i = start; i < Math.min(ROWS, start + CHUNK_ROWS); i += 1) {
      const pin = createHash("sha256").update(String(i)).digest("hex");
      text += `sensor-${String(i).padStart(8, "0")},thermo-2,lyon-3,${pin}\n`;
    }
    yield Buffer.from(text);
  }
}

/** Accepts every write and keeps only counts: the allowlist lives in DynamoDB, not in the Lambda. */
const countingStore = (): LifecycleStore & { written: () => number } => {
  let written = 0;
  let batch: BatchRecord | undefined;
  const unsupported = () => {
    throw new Error("not used by the ingest path");
  };
  return {
    written: () => written,
    getBatch: async () => batch,
    createBatch: async (b) => {
      batch = b;
    },
    finishBatch: async (b) => {
      batch = b;
    },
    addDevices: async (devices: readonly Device[]): Promise<AddDeviceResult[]> => {
      written += devices.length;
      return devices.map(() => ({ kind: "added" }));
    },
    getDevice: unsupported,
    listEvents: unsupported,
    pageEvents: unsupported,
    pageDevices: unsupported,
    transition: unsupported,
    readProvisioningState: unsupported,
    claim: unsupported,
    activate: unsupported,
    release: unsupported,
    recordRefusal: unsupported,
    recordWaiting: unsupported,
    recordEvent: unsupported,
    commitReplacement: unsupported,
    putApproval: unsupported,
    pageExpiredApprovals: unsupported,
    expireApproval: unsupported,
    pageRetirable: unsupported,
    scheduleRetirement: unsupported,
    recordRetired: unsupported,
    readRetirementCheckpoint: unsupported,
    saveRetirementCheckpoint: unsupported,
    startRecall: unsupported,
    claimRecallPage: unsupported,
    recallPageDone: unsupported,
    pageBatches: unsupported,
  };
};

const parseOnly = async (): Promise<number> => {
  const started = performance.now();
  let valid = 0;
  for await (const record of readManifestRecords(manifest())) {
    if ("record" in record && validateManifestRecord(record.record, record.line, DEFAULT_MANIFEST_RULES).ok)
      valid += 1;
  }
  if (valid !== ROWS) throw new Error(`expected ${ROWS} valid rows, got ${valid}`);
  return ROWS / ((performance.now() - started) / 1000);
};

const ingest = async () => {
  const store = countingStore();
  const started = performance.now();
  const result = await registerBatch(
    {
      store,
      clock: { now: () => new Date() },
      manifestRules: DEFAULT_MANIFEST_RULES,
      // The CA lookup is one call per batch, not per row: an ACTIVE CA answered in memory.
      caRegistry: {
        describeCaCertificate: async (id) => ({ caCertificateId: id, status: "ACTIVE", pem: "" }),
      },
    },
    { open: manifest, caCertificateId: "a".repeat(64), actor: "bench", source: "bench" },
  );
  const seconds = (performance.now() - started) / 1000;
  if (store.written() !== ROWS || result.batch.counts?.accepted !== ROWS)
    throw new Error("bench ingest lost rows");
  return { seconds, rowsPerSecond: ROWS / seconds };
};

const parseRate = await parseOnly();
const whole = await ingest();
console.log(
  JSON.stringify({
    rows: ROWS,
    parseAndValidateRowsPerSecond: Math.round(parseRate),
    ingestRowsPerSecond: Math.round(whole.rowsPerSecond),
    ingestSeconds: Number(whole.seconds.toFixed(1)),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
