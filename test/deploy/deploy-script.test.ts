import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "#test/support/packaging-setup.js";

/**
 * npm run deploy (scripts/deploy.mjs): osls deploy with the arguments given, once the params a
 * deployment must set are set. --dry-run checks and says what would run, without running it.
 */
const deploy = (...args: string[]) => {
  const run = spawnSync(process.execPath, [join(ROOT, "scripts", "deploy.mjs"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { PATH: process.env.PATH },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
};

describe("npm run deploy", () => {
  it("refuses a stage whose bucket suffix is still the shared default, deploying nothing", () => {
    const result = deploy("--stage", "prod", "--param", "alarmEmail=ops@example.com");

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/set --param bucketSuffix=<suffix>/);
    expect(result.stderr).toMatch(/nothing was deployed/);
    expect(result.stdout).not.toMatch(/osls deploy/);
  });

  it("refuses the default stage the same way", () => {
    expect(deploy("--dry-run").stderr).toMatch(/bucketSuffix/);
  });

  it("refuses the local stage, whose grants are widened for the emulator", () => {
    const result = deploy("--stage", "local", "--dry-run");

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/the local stage is the local stack's/);
  });

  it("refuses a suffix that makes no bucket name, and an alarm email that is no address", () => {
    const result = deploy(
      "--stage",
      "prod",
      "--param",
      "bucketSuffix=Acme_Corp",
      "--param=alarmEmail=ops",
      "--dry-run",
    );

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/bucket fleetgate-prod-manifests-Acme_Corp must be 3-63 lowercase/);
    expect(result.stderr).toMatch(/alarmEmail=ops is not an email address/);
  });

  it("runs osls deploy with the arguments as given once the params are set", () => {
    const args = [
      "--stage",
      "prod",
      "--region",
      "eu-west-1",
      "--param",
      "bucketSuffix=123456789012",
      "--param=alarmEmail=ops@example.com",
      "--aws-profile",
      "fleet-admin",
    ];

    const result = deploy(...args, "--dry-run");

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      "deploy: fleetgate-prod to eu-west-1, manifests in s3://fleetgate-prod-manifests-123456789012",
    );
    expect(result.stdout).toContain(`would run osls deploy ${args.join(" ")}`);
  });
});
