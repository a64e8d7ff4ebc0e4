import { spawn } from "node:child_process";
import { join } from "node:path";
import type { Context } from "aws-lambda";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { type LocalApi, startLocalApi } from "#local/api-server.js";
import { sqsEvent } from "#local/iot-simulator.js";
import { createMotoWorld } from "#test/support/moto-world.js";

/** Schemathesis (PyPI) fuzzes the locally served API from openapi.yaml; see test/schemathesis/. */
const root = join(import.meta.dirname, "..", "..");
const FUZZER = {
  accessKeyId: "AKIAFUZZER0000000000",
  secretAccessKey: "fuzz-secret",
  userArn: "arn:aws:iam::123456789012:user/fuzzer",
};
let api: LocalApi;

beforeAll(async () => {
  const world = await createMotoWorld(inject("motoEndpoint"));
  // A few real devices, so that generated requests also reach the paths that find something.
  const ids = ["fuzz-a", "fuzz-b"].map(world.id);
  await world.allow(`deviceId\n${ids.join("\n")}\n`);
  const { handler: jitr } = await import("#functions/jitr.js");
  for (const deviceId of ids) await jitr(sqsEvent([await world.connect({ deviceId })]), {} as Context);
  const { handler } = await import("#functions/operations-api.js");
  api = await startLocalApi(handler, [FUZZER]);
}, 120_000);

afterAll(async () => {
  await api?.close();
});

const run = (command: string, args: string[], env: Record<string, string>) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env } });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("close", (code) => resolve({ code, output }));
  });

it("no generated request gets a server error or an answer that breaks openapi.yaml", async () => {
  const env = await run(process.execPath, ["scripts/python-env.mjs", "fuzz"], {});
  expect(env.code, env.output).toBe(0);
  const result = await run(
    join(root, ".venv-fuzz", "bin", "pytest"),
    ["-q", "-p", "no:cacheprovider", "test/schemathesis/test_operations_api.py", "--hypothesis-seed=1"],
    {
      FLEETGATE_API_URL: api.url,
      FLEETGATE_OPENAPI: join(root, "openapi.yaml"),
      FLEETGATE_ACCESS_KEY_ID: FUZZER.accessKeyId,
      FLEETGATE_SECRET_ACCESS_KEY: FUZZER.secretAccessKey,
    },
  );
  expect(result.code, result.output).toBe(0);
  expect(result.output).toMatch(/\d+ passed/);
}, 300_000);
