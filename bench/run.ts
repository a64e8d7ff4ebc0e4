import { spawnSync } from "node:child_process";
import { benchAwsCalls } from "./aws-calls.js";
import { benchColdStart } from "./cold-start.js";
import { benchDecisionCpu } from "./decision-cpu.js";
import { benchFirstConnect } from "./first-connect.js";

/** `npm run bench`: prints the numbers the issues ask for. Not a test: nothing here passes or fails. */
console.log("Provisioning decision, CPU per device (parse + verify against CA + checks + decide)");
console.table(await benchDecisionCpu());

// In its own process: the SDK clients are made once per process, and these point at its own moto.
console.log(
  "\nThe fleet pre-provisioning hook's latency, one request after the other through the handler (IoT Core allows 5 s; target p99 well under 1 s)",
);
const hook = spawnSync(process.execPath, ["--import", "tsx", "bench/provisioning-hook.ts"], {
  encoding: "utf8",
});
if (hook.status !== 0) throw new Error(`hook bench failed: ${hook.stderr}`);
console.log(hook.stdout.trimEnd());

console.log(
  "AWS calls per provisioned device, through the JITR handler against moto (targets: IoT <= 6, DynamoDB <= 3)",
);
const calls = await benchAwsCalls();
console.table(calls.rows);
console.log(`  first device: ${calls.coldDetail}`);
console.log(`  steady state: ${calls.steadyDetail}`);
console.log(`  (moto, one process, unpaced: ${calls.motoDevicesPerSecond} devices/s; not a claim about AWS)`);

console.log(
  "\nCold start: each function's packaged bundle imported in a fresh node process, against a bundle of only its AWS SDK clients (target: ratio <= 1.3)",
);
const coldStart = await benchColdStart();
console.table(coldStart.rows);
for (const line of coldStart.details) console.log(`  ${line}`);

// In its own process, so the peak memory is the ingest's and nothing else's.
const MANIFEST_ROWS = process.env.BENCH_MANIFEST_ROWS ?? "1000000";
console.log(
  `\nManifest ingest, ${MANIFEST_ROWS} rows streamed, one core (allowlist writes counted, not stored)`,
);
const ingest = spawnSync(process.execPath, ["--import", "tsx", "bench/manifest-ingest.ts", MANIFEST_ROWS], {
  encoding: "utf8",
});
if (ingest.status !== 0) throw new Error(`manifest bench failed: ${ingest.stderr}`);
console.table([JSON.parse(ingest.stdout.trim().split("\n").at(-1) ?? "{}")]);

console.log(
  "\nFirst CONNECT to first publish, one device after the other, on the packaged stack deployed on the local AWS",
);
console.table([await benchFirstConnect()]);
await (await import("./cli-start.js")).printCliStart();

// The JITR herd in virtual time (bench/herd): the table's weathers at BENCH_HERD_DEVICES devices
// each (2,000 here; `npm run bench:herd` runs them at 10,000 and the 100,000-device run by name).
if (process.env.BENCH_HERD !== "0") {
  const { benchHerd, row } = await import("./herd/run.js");
  const { TABLE } = await import("./herd/presets.js");
  const devices = Number(process.env.BENCH_HERD_DEVICES ?? 2000);
  console.log(`\nJITR herd in virtual time, ${devices} devices a scenario (npm run bench:herd for 10,000)`);
  console.table((await benchHerd(TABLE, { devices })).map(row));
}
