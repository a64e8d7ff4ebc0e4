import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

/** The README's first command: the local stack runs end to end and says what happened to each device. */
const root = join(import.meta.dirname, "..", "..");

it("npm start's demo provisions the good devices, refuses the bad ones with their reasons, and drives the API", () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", "src/local/demo.ts"], {
    cwd: root,
    encoding: "utf8",
    input: "",
    timeout: 120_000,
  });
  expect(run.status, run.stderr).toBe(0);
  const lines = run.stdout.split("\n");
  const outcome = (label: string) => lines.find((line) => line.includes(label)) ?? "";
  expect(outcome("good EC P-256")).toMatch(/PROVISIONED +ACTIVE/);
  expect(outcome("good RSA 2048")).toMatch(/PROVISIONED +ACTIVE/);
  expect(outcome("clone of 001")).toMatch(/REFUSED +REVOKED +IDENTITY_ALREADY_CLAIMED/);
  expect(outcome("RSA 1024")).toMatch(/REFUSED +REVOKED +KEY_WEAK/);
  expect(outcome("forged CA signature")).toMatch(/SIGNATURE_INVALID/);
  expect(outcome("other product line")).toMatch(/CA_NOT_BATCH_CA/);
  expect(run.stdout).toMatch(/failed records: 0 \(first pass\), 0 \(repeated events\)/);
  expect(run.stdout).toMatch(/\$ fleetgate device suspend demo-sensor-002[\s\S]*state +SUSPENDED/);
}, 150_000);
