import { spawn } from "node:child_process";
import { join } from "node:path";
import { PRESETS, TABLE } from "./presets.js";
import type { ScenarioResult } from "./scenario.js";

/**
 * `npm run bench:herd [preset...] [--devices N]`: each scenario in a process of its own (its peak
 * memory is its own), the table printed at the end. Without presets, the table's rows; `herd-100k`
 * is asked for by name. A benchmark: nothing here passes or fails.
 */
const HERE = import.meta.dirname;

export const runPreset = (name: string, overrides: object = {}): Promise<ScenarioResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--max-old-space-size=6144", "--import", "tsx", join(HERE, "one.ts"), name, JSON.stringify(overrides)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += String(chunk);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !last.startsWith("{")) reject(new Error(`${name} failed (exit ${code})`));
      else resolve(JSON.parse(last) as ScenarioResult);
    });
  });

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** One row of the printed table. */
export const row = (r: ScenarioResult) => ({
  scenario: r.name,
  devices: r.devices,
  "devices/s": round(r.devicesPerSecond),
  "of possible": round(r.ratio),
  lost: r.lost,
  "dup Things/activations": `${r.duplicateThings}/${r.duplicateActivations}`,
  "throttles seen/surfaced": `${r.throttlesSeen}/${r.throttlesSurfaced}`,
  deferrals: r.deferrals,
  "p50/p99 s": `${round(r.p50Seconds, 0)}/${round(r.p99Seconds, 0)}`,
  "peak RSS MB": round(r.peakRssMb, 0),
  "real s": round(r.realSeconds, 0),
});

export const benchHerd = async (names: readonly string[], overrides: object = {}) => {
  const results: ScenarioResult[] = [];
  for (const name of names) {
    process.stderr.write(`herd: ${name}...\n`);
    results.push(await runPreset(name, overrides));
  }
  return results;
};

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const args = process.argv.slice(2);
  const devicesAt = args.indexOf("--devices");
  const overrides = devicesAt >= 0 ? { devices: Number(args[devicesAt + 1]) } : {};
  const names = args.filter((arg, i) => !arg.startsWith("--") && (devicesAt < 0 || i !== devicesAt + 1));
  for (const name of names) if (!PRESETS[name]) throw new Error(`no preset ${name}`);
  const results = await benchHerd(names.length > 0 ? names : TABLE, overrides);
  const settings = results[0]?.settings;
  console.log(
    `JITR herd (virtual time): event source ${settings?.pollers} pollers x ${settings?.batchSize} records, ` +
      `${(settings?.timeoutMs ?? 0) / 1000} s timeout, ${settings?.maxReceiveCount} receives before the dead-letter queue`,
  );
  console.table(results.map(row));
  for (const r of results)
    console.log(
      `  ${r.name}: throttles by API ${JSON.stringify(r.throttlesByApi)}; DynamoDB per device: ${round(r.dynamoDbCallsPerDevice)} table + ${round(r.budgetWritesPerDevice)} budget; containers ${r.containers} (heap each ~${round(r.containerHeapMb, 0)} MB loaded)` +
        (r.otherCallerTps !== undefined ? `; other caller got ${round(r.otherCallerTps)}/s` : "") +
        (r.ingestAttempts !== undefined
          ? `; ingest attempts ${r.ingestAttempts}${r.ingestDeadLettered ? " (dead-lettered)" : ""}`
          : ""),
    );
}
