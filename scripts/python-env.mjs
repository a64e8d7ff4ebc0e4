#!/usr/bin/env node
// Makes sure a virtualenv holds the Python tools of a requirements file:
//   node scripts/python-env.mjs        .venv       <- requirements-dev.txt (moto, cfn-lint, checkov)
//   node scripts/python-env.mjs fuzz   .venv-fuzz  <- requirements-fuzz.txt (schemathesis)
// Idempotent and quick when nothing changed; safe when several processes call it at once.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const flavour = process.argv[2] ?? "dev";
if (!["dev", "fuzz"].includes(flavour)) {
  console.error(`python-env: unknown environment ${flavour} (dev or fuzz)`);
  process.exit(2);
}
const venv =
  flavour === "dev" ? (process.env.FLEETGATE_VENV ?? join(root, ".venv")) : join(root, ".venv-fuzz");
const requirements = join(root, `requirements-${flavour}.txt`);
const stampFile = join(venv, ".fleetgate-stamp");
const lock = `${venv}.lock`;

const run = (command, args) => {
  const result = spawnSync(command, args, { stdio: "inherit" });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${result.status}`);
};

const pythonVersion = () => {
  const result = spawnSync("python3", ["--version"], { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    console.error("python-env: python3 is required (3.10 or newer) to run moto, cfn-lint and checkov");
    process.exit(1);
  }
  return result.stdout.trim();
};

const wanted = createHash("sha256").update(readFileSync(requirements)).update(pythonVersion()).digest("hex");
const ready = () => existsSync(stampFile) && readFileSync(stampFile, "utf8") === wanted;

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const acquireLock = () => {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      return;
    } catch {
      // A lock older than 15 minutes belongs to a process that died.
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs > 15 * 60_000)
        rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`python-env: gave up waiting for ${lock}`);
      sleep(500);
    }
  }
};

if (!ready()) {
  acquireLock();
  try {
    if (!ready()) {
      console.log(`python-env: installing ${requirements} into ${venv} (first run only)`);
      rmSync(venv, { recursive: true, force: true });
      run("python3", ["-m", "venv", venv]);
      const pip = join(venv, "bin", "pip");
      run(pip, ["install", "-q", "--upgrade", "pip"]);
      run(pip, ["install", "-q", "-r", requirements]);
      writeFileSync(stampFile, wanted);
      console.log("python-env: ready");
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
