import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { EXIT, runCli } from "#cli/program.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const CA = "a".repeat(64);
let store: InMemoryLifecycleStore;
let out: string[];
let err: string[];
const dir = mkdtempSync(join(tmpdir(), "fleetgate-cli-"));

const run = (...argv: string[]) =>
  runCli(argv, {
    deps: () => ({
      store,
      registry: new FakeRegistry(),
      clock: { now: () => new Date("2026-11-25T10:00:00Z") },
      manifestRules: { maxThingAttributes: 3 },
    }),
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    actor: "cli:test",
  });

const manifest = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

beforeEach(() => {
  store = new InMemoryLifecycleStore();
  out = [];
  err = [];
});

describe("fleetgate batch register", () => {
  it("registers a manifest and prints the batch as JSON", async () => {
    const code = await run(
      "batch",
      "register",
      manifest("ok.csv", "deviceId,model\nd-1,m1\n"),
      "--ca",
      CA,
      "--batch-id",
      "lot-1",
    );
    expect(code).toBe(EXIT.ok);
    const result = JSON.parse(out.join(""));
    expect(result.batch).toMatchObject({
      batchId: "lot-1",
      state: "REGISTERED",
      registeredBy: "cli:test",
      source: "file:ok.csv",
    });
    expect(store.devices.get("d-1")?.state).toBe("ALLOWED");
  });

  it("exits with the partial code and lists bad rows by line number", async () => {
    const code = await run("batch", "register", manifest("bad.csv", "deviceId\nd-1\nd 2\nd-1\n"), "--ca", CA);
    expect(code).toBe(EXIT.partial);
    const result = JSON.parse(out.join(""));
    expect(result.issues.map((issue: { line: number; kind: string }) => [issue.line, issue.kind])).toEqual([
      [3, "invalid"],
      [4, "duplicate"],
    ]);
  });

  it("says clearly what is wrong with the command, the file or the CA id", async () => {
    expect(await run("batch", "register", manifest("x.csv", "deviceId\nd\n"))).toBe(EXIT.invalid);
    expect(err.join("")).toMatch(/--ca/);
    err = [];
    expect(await run("batch", "register", join(dir, "missing.csv"), "--ca", CA)).toBe(EXIT.failed);
    expect(err.join("")).toMatch(/no such file: .*missing\.csv/);
    err = [];
    expect(await run("batch", "register", manifest("y.csv", "deviceId\nd\n"), "--ca", "zz")).toBe(
      EXIT.invalid,
    );
    expect(err.join("")).toMatch(/CA certificate id "zz" is not 64 hex characters/);
  });
});

describe("fleetgate device show", () => {
  it("prints the device and its history", async () => {
    await run("batch", "register", manifest("one.csv", "deviceId\nd-1\n"), "--ca", CA, "--batch-id", "lot-1");
    out = [];
    expect(await run("device", "show", "d-1")).toBe(EXIT.ok);
    expect(JSON.parse(out.join(""))).toMatchObject({
      device: { deviceId: "d-1", state: "ALLOWED", batchId: "lot-1" },
      history: [],
    });
  });

  it("exits with the not-found code for an unknown device", async () => {
    expect(await run("device", "show", "ghost")).toBe(EXIT.notFound);
    expect(err.join("")).toMatch(/device ghost does not exist/);
  });
});
