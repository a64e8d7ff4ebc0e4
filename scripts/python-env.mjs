#!/usr/bin/env node
// Makes sure a virtualenv holds the Python tools of a requirements file:
//   node scripts/python-env.mjs        .venv       <- requirements-dev.txt (moto, cfn-lint, checkov)
//   node scripts/python-env.mjs fuzz   .venv-fuzz  <- requirements-fuzz.txt (schemathesis)
//   node scripts/python-env.mjs ministack .venv-ministack <- requirements-ministack.txt (the local AWS)
// Idempotent and quick when nothing changed; safe when several processes call it at once.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const flavour = process.argv[2] ?? "dev";
if (!["dev", "fuzz", "ministack"].includes(flavour)) {
  console.error(`python-env: unknown environment ${flavour} (dev, fuzz or ministack)`);
  process.exit(2);
}
const venv =
  flavour === "dev" ? (process.env.FLEETGATE_VENV ?? join(root, ".venv")) : join(root, `.venv-${flavour}`);
const requirements = join(root, `requirements-${flavour}.txt`);
const stampFile = join(venv, ".fleetgate-stamp");
const lock = `${venv}.lock`;

const fail = (message) => {
  console.error(`python-env: ${message}`);
  process.exit(1);
};

const run = (command, args) => {
  const result = spawnSync(command, args, { stdio: "inherit" });
  if (result.error) fail(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(" ")} exited with ${result.status ?? result.signal}`);
};

const pythonVersion = () => {
  const result = spawnSync("python3", ["--version"], { encoding: "utf8" });
  if (result.error || result.status !== 0)
    fail("python3 is required (3.10 or newer) to run moto, cfn-lint and checkov; none found on PATH");
  return result.stdout.trim();
};

const wanted = createHash("sha256").update(readFileSync(requirements)).update(pythonVersion()).digest("hex");
const ready = () => existsSync(stampFile) && readFileSync(stampFile, "utf8") === wanted;

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
};

// A lock whose owner died (Ctrl-C during the first install) is taken over at once; one without an owner
// file yet is only stale after a minute, and any lock after the longest plausible install.
const stale = () => {
  const pidFile = join(lock, "pid");
  const owner = existsSync(pidFile) ? Number.parseInt(readFileSync(pidFile, "utf8"), 10) : Number.NaN;
  const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
  return Number.isInteger(owner) ? !alive(owner) || age > 30 * 60_000 : age > 60_000;
};

const acquireLock = () => {
  const deadline = Date.now() + 30 * 60_000;
  let waiting = false;
  for (;;) {
    try {
      mkdirSync(lock);
      // process.exit skips finally blocks; the exit event still runs, on failure and on Ctrl-C alike.
      process.on("exit", () => rmSync(lock, { recursive: true, force: true }));
      for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(130));
      writeFileSync(join(lock, "pid"), String(process.pid));
      return;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
    }
    try {
      if (stale()) {
        // Renaming is atomic: of several waiters that find the same stale lock, one removes it.
        const grave = `${lock}.stale-${process.pid}`;
        renameSync(lock, grave);
        rmSync(grave, { recursive: true, force: true });
        continue;
      }
    } catch {
      // The lock went away while we looked at it (or another waiter took it over): look again.
    }
    if (Date.now() > deadline) fail(`gave up waiting for ${lock}; remove it if no install is running`);
    if (!waiting) console.log(`python-env: waiting for another process installing into ${venv}`);
    waiting = true;
    sleep(500);
  }
};

if (!ready()) {
  acquireLock();
  // Whoever held the lock before may have just finished the same install.
  if (!ready()) {
    console.log(`python-env: installing ${requirements} into ${venv} (first run only)`);
    const started = Date.now();
    rmSync(venv, { recursive: true, force: true });
    run("python3", ["-m", "venv", venv]);
    const pip = join(venv, "bin", "pip");
    run(pip, ["install", "-q", "--upgrade", "pip"]);
    run(pip, ["install", "-q", "-r", requirements]);
    writeFileSync(stampFile, wanted);
    console.log(`python-env: ready in ${Math.round((Date.now() - started) / 1000)} s`);
  }
}
