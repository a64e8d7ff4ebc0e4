import { spawnSync } from "node:child_process";
import { join } from "node:path";

/**
 * How long `fleetgate` takes to start and answer, for the commands that do no AWS work: wall
 * time of a fresh process, median of RUNS (default 10) after one warm-up run. The bundle is built
 * first, so the numbers are the installed CLI's; the sources through tsx (what bin/ ran before
 * the bundle) and Node's own start are shown beside them.
 */
const ROOT = join(import.meta.dirname, "..");
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 10);

const COMMANDS: readonly (readonly [label: string, args: readonly string[]])[] = [
  ["node bin/fleetgate.mjs --version (checkout)", ["bin/fleetgate.mjs", "--version"]],
  ["node bin/fleetgate.mjs --help (checkout)", ["bin/fleetgate.mjs", "--help"]],
  ["node dist/fleetgate.mjs --version (as installed)", ["dist/fleetgate.mjs", "--version"]],
  ["node dist/fleetgate.mjs --help (as installed)", ["dist/fleetgate.mjs", "--help"]],
  ["node dist/fleetgate.mjs device show --help", ["dist/fleetgate.mjs", "device", "show", "--help"]],
  ["sources through tsx: --version", ["--import", "tsx", "src/cli/main.ts", "--version"]],
  ["node -e 0 (Node's own start)", ["-e", "0"]],
];

const wallMs = (args: readonly string[]): number => {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} failed: ${result.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
};

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

export const benchCliStart = (runs = RUNS) => {
  const build = spawnSync(process.execPath, ["scripts/build-cli.mjs"], { cwd: ROOT, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`building the CLI failed: ${build.stderr}`);
  return COMMANDS.map(([command, args]) => {
    wallMs(args);
    const times = Array.from({ length: runs }, () => wallMs(args));
    return {
      command,
      "median ms": Math.round(median(times)),
      "min ms": Math.round(Math.min(...times)),
      "max ms": Math.round(Math.max(...times)),
      runs,
    };
  });
};

export const printCliStart = (): void => {
  console.log(
    `\nfleetgate CLI start, wall time of a fresh process (median of ${RUNS} runs; target < 200 ms)`,
  );
  console.table(benchCliStart());
};

if (process.argv[1] === import.meta.filename) printCliStart();
