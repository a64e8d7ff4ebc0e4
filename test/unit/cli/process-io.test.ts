import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EXIT } from "#cli/failures.js";
import { type LocalServer, localServer } from "./local-server.js";
import { awsEnvironment, runProcessCli, STATIC_KEYS, TEST_VERSION } from "./real-cli.js";

let server: LocalServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.unstubAllEnvs();
});

describe("fleetgate --version and --help", () => {
  it("--version prints the version alone and exits 0", async () => {
    awsEnvironment();
    expect(await runProcessCli(["--version"])).toEqual({
      code: EXIT.ok,
      stdout: `${TEST_VERSION}\n`,
      stderr: "",
    });
  });

  it("run from the sources, the version is package.json's", async () => {
    const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    const { stdout } = await promisify(execFile)(process.execPath, [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "--version",
    ]);
    expect(stdout).toBe(`${version}\n`);
  });

  it("--help lists the commands and the options for version, and exits 0", async () => {
    awsEnvironment();
    const run = await runProcessCli(["--help"]);
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/^Usage: fleetgate/);
    expect(run.stdout).toMatch(/-V, --version/);
    expect(run.stdout).toMatch(/batch +manufacturing batches/);
    expect(run.stdout).toMatch(/device +devices and their lifecycle/);
  });

  it("a command's help names --profile and --region", async () => {
    awsEnvironment();
    const run = await runProcessCli(["device", "show", "--help"]);
    expect(run.stdout).toMatch(/--profile <name>/);
    expect(run.stdout).toMatch(/--region <region>/);
  });
});

describe("progress of an upload", () => {
  const register = async (tty: boolean) => {
    awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1" } });
    const manifest = join(mkdtempSync(join(tmpdir(), "fleetgate-progress-")), "lot.csv");
    writeFileSync(manifest, "deviceId\nd-1\n");
    server = await localServer((request) => {
      if (request.method === "POST")
        return {
          status: 201,
          body: { batchId: "lot-1", uploadUrl: `${server?.url}/bucket/lot.csv`, headers: {} },
        };
      if (request.method === "PUT") return { status: 200 };
      return {
        status: 200,
        body: { batchId: "lot-1", state: "REGISTERED", counts: { rows: 1, accepted: 1 } },
      };
    });
    return runProcessCli(
      ["batch", "register", manifest, "--ca", "a".repeat(64), "--upload", "--api-url", server.url],
      {
        tty,
      },
    );
  };

  it("is shown on stderr when it is a terminal", async () => {
    const run = await register(true);
    expect(run.code).toBe(EXIT.ok);
    expect(run.stderr).toMatch(/^fleetgate: uploading lot.csv: 0.0 MB of 0.0 MB \(100%\) \(0 s\)$/m);
  });

  it("is not shown when stderr is a pipe or a file: logs get the outcome only", async () => {
    const run = await register(false);
    expect(run.code).toBe(EXIT.ok);
    expect(run.stderr).toBe("");
    expect(run.stdout).toMatch(/state +REGISTERED/);
  });
});
