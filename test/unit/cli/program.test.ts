import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { ApiAnswer } from "#cli/api-client.js";
import { EXIT, runCli } from "#cli/program.js";
import { DEFAULT_MANIFEST_RULES } from "#domain/manifest.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const CA = "a".repeat(64);
const OTHER_CA = "b".repeat(64);
const registry = new FakeRegistry();
for (const id of [CA, OTHER_CA])
  registry.cas.set(id, { caCertificateId: id as never, status: "ACTIVE", pem: "" });
let store: InMemoryLifecycleStore;
let out: string[];
let err: string[];
let requests: Record<string, unknown>[];
/** What S3 answers an upload's PUT. */
let s3Status: number;
/** What the CLI shows of long work, and the time it sees (sleeping advances it). */
let progress: string[];
let now: number;
/** The API's answer, or one per request. */
let answer: ApiAnswer | ((method: string, path: string) => ApiAnswer);
const dir = mkdtempSync(join(tmpdir(), "fleetgate-cli-"));

const run = (...argv: string[]) =>
  runCli(argv, {
    devices: {
      api:
        ({ apiUrl }) =>
        async (method, path, options = {}) => {
          requests.push({ apiUrl, method, path, ...options });
          return typeof answer === "function" ? answer(method, path) : answer;
        },
      out: (text) => out.push(text),
      defaultRegion: "eu-west-1",
    },
    deps: () => ({
      store,
      clock: { now: () => new Date("2026-11-25T10:00:00Z") },
      manifestRules: DEFAULT_MANIFEST_RULES,
      caRegistry: registry,
    }),
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    actor: "cli:test",
    progress: (text) => progress.push(text),
    http: async (request) => {
      // S3 reads the whole manifest before it answers.
      if (typeof request.body === "object") for await (const _ of request.body.stream);
      return { status: s3Status, text: s3Status < 300 ? "" : "<Error><Code>AccessDenied</Code></Error>" };
    },
    clock: {
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    },
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
  requests = [];
  s3Status = 200;
  progress = [];
  now = 0;
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

  it("registers a line without a CA only when told so (--fleet-only), never by a forgotten --ca", async () => {
    const path = manifest("fleet.csv", "deviceId\nf-1\n");
    expect(await run("batch", "register", path)).toBe(EXIT.invalid);
    expect(await run("batch", "register", path, "--ca", CA, "--fleet-only")).toBe(EXIT.invalid);
    expect(err.join("")).toMatch(/give exactly one of --ca <caCertificateId> or --fleet-only/);
    expect(store.devices.size).toBe(0);

    expect(await run("batch", "register", path, "--fleet-only", "--batch-id", "fleet-1")).toBe(EXIT.ok);
    expect(JSON.parse(out.join("")).batch).not.toHaveProperty("caCertificateId");
    expect(store.devices.get("f-1")).toMatchObject({ state: "ALLOWED", batchId: "fleet-1" });
  });

  it("exits with the conflict code when the same manifest comes again under another CA", async () => {
    const path = manifest("lot.csv", "deviceId\nd-1\n");
    expect(await run("batch", "register", path, "--ca", CA, "--batch-id", "lot-1")).toBe(EXIT.ok);
    expect(await run("batch", "register", path, "--ca", OTHER_CA, "--batch-id", "lot-1")).toBe(EXIT.conflict);
    expect(err.join("")).toMatch(/batch lot-1 was registered under CA a{64}, not CA b{64}/);
  });

  it("says clearly what is wrong with the command, the file or the CA id", async () => {
    expect(await run("batch", "register", manifest("x.csv", "deviceId\nd\n"))).toBe(EXIT.invalid);
    expect(err.join("")).toMatch(/--ca/);
    err = [];
    expect(await run("batch", "register", join(dir, "missing.csv"), "--ca", CA)).toBe(EXIT.invalid);
    expect(err.join("")).toMatch(/no such file: .*missing\.csv/);
    err = [];
    expect(await run("batch", "register", manifest("y.csv", "deviceId\nd\n"), "--ca", "zz")).toBe(
      EXIT.invalid,
    );
    expect(err.join("")).toMatch(/CA certificate id "zz" is not 64 hex characters/);
  });
});

describe("fleetgate batch register through the API", () => {
  const batch = (state: string, extra: Record<string, unknown> = {}) => ({
    batchId: "lot-1",
    state,
    source: "inline",
    registeredBy: "ops",
    registeredAt: "2026-11-25T10:00:00Z",
    ...extra,
  });
  const inline = () =>
    run(
      "batch",
      "register",
      manifest("api.csv", "deviceId\nd-1\nd 2\n"),
      "--ca",
      CA,
      "--api-url",
      "http://api",
    );

  it("exits 0 for a batch registered whole, and with the partial code when rows were rejected", async () => {
    answer = { status: 201, body: { batch: batch("REGISTERED"), replay: false, issues: [] } };
    expect(await inline()).toBe(EXIT.ok);
    answer = {
      status: 201,
      body: {
        batch: batch("PARTIAL"),
        replay: false,
        issues: [{ kind: "invalid", line: 3, message: "bad" }],
      },
    };
    expect(await inline()).toBe(EXIT.partial);
    expect(out.at(-1)).toMatch(/state +PARTIAL/);
  });

  it("shows the warnings the API gave with the batch", async () => {
    answer = {
      status: 201,
      body: {
        batch: batch("REGISTERED", { warnings: ["CA aaaa: auto-registration is off"] }),
        replay: false,
        issues: [],
      },
    };
    expect(await inline()).toBe(EXIT.ok);
    expect(out.at(-1)).toMatch(/^warning +CA aaaa: auto-registration is off$/m);
  });

  it("exits with the partial code when the API rejects every row", async () => {
    answer = {
      status: 422,
      body: {
        title: "manifest rejected",
        detail: "no row of batch lot-1 could be registered",
        errors: ["line 2: bad"],
      },
    };
    expect(await inline()).toBe(EXIT.partial);
    expect(err.join("")).toMatch(/422 manifest rejected/);
  });

  describe("uploaded", () => {
    /** Uploads a 5.3 MB manifest; the batch is each of `states` in turn, then `outcome`. */
    const upload = async (outcome: Record<string, unknown>, states: string[] = [], ...extra: string[]) => {
      const seen = [...states];
      answer = (method) => {
        if (method === "POST")
          return {
            status: 201,
            body: {
              batchId: "lot-1",
              uploadUrl: "http://s3/put?X-Amz-Signature=secret",
              key: "k",
              headers: {},
              expiresInSeconds: 900,
            },
          };
        const state = seen.shift();
        return { status: 200, body: state ? batch(state) : outcome };
      };
      const large = manifest("large.csv", `deviceId\n${"d-1\n".repeat(1_400_000)}`);
      return run("batch", "register", large, "--ca", CA, "--api-url", "http://api", ...extra);
    };

    it("exits with the partial code when the ingested batch rejected rows", async () => {
      expect(await upload(batch("PARTIAL", { counts: { rows: 2, accepted: 1, invalid: 1 } }))).toBe(
        EXIT.partial,
      );
      expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        "POST /batches/uploads",
        "GET /batches/lot-1",
      ]);
    });

    it("exits as for bad input when the ingest refused the manifest whole", async () => {
      expect(await upload(batch("FAILED", { error: "manifest signature is required and missing" }))).toBe(
        EXIT.invalid,
      );
      expect(out.at(-1)).toMatch(/state +FAILED: manifest signature is required and missing/);
    });

    it("says how much is uploaded, then the batch's state while the ingest runs, with the time taken", async () => {
      expect(await upload(batch("REGISTERED"), ["RECEIVED", "RECEIVED", "RECEIVED", "RECEIVED"])).toBe(
        EXIT.ok,
      );
      expect(progress).toEqual([
        "fleetgate: uploading large.csv: 0.1 MB of 5.3 MB (1%) (0 s)",
        "fleetgate: uploading large.csv: 5.3 MB of 5.3 MB (100%) (0 s)",
        "fleetgate: batch lot-1 is RECEIVED, waiting for the ingest (0 s)",
        "fleetgate: batch lot-1 is RECEIVED, waiting for the ingest (2 s)",
      ]);
    });

    it("writes no progress with --json, whose stderr is for errors only", async () => {
      expect(await upload(batch("REGISTERED"), ["RECEIVED", "RECEIVED"], "--json")).toBe(EXIT.ok);
      expect(progress).toEqual([]);
    });

    it("gives up waiting after 15 minutes, saying how to look later (exit 1)", async () => {
      expect(await upload(batch("REGISTERED"), Array(1_000).fill("RECEIVED"))).toBe(EXIT.failed);
      expect(err.join("")).toMatch(/504 still ingesting: see fleetgate batch show lot-1/);
      expect(now).toBeGreaterThanOrEqual(900_000);
    });

    it("exits 1 when S3 refuses the upload, naming the upload's URL without its signature", async () => {
      s3Status = 403;
      expect(await upload(batch("REGISTERED"))).toBe(EXIT.failed);
      expect(err.join("")).toContain("502 upload refused: S3 answered 403: <Error><Code>AccessDenied");
      expect(err.join("")).toContain("(PUT http://s3/put)");
      expect(err.join("")).not.toContain("secret");
    });
  });
});

describe("fleetgate device ...", () => {
  it("shows a device through the API and prints the JSON answer with --json", async () => {
    answer = {
      status: 200,
      body: { device: { deviceId: "d-1", state: "ACTIVE", batchId: "lot-1" }, history: [] },
    };
    expect(await run("device", "show", "d-1", "--api-url", "http://api", "--json")).toBe(EXIT.ok);
    expect(requests).toEqual([{ apiUrl: "http://api", method: "GET", path: "/devices/d-1" }]);
    expect(JSON.parse(out.join(""))).toEqual(answer.body);
  });

  it("prints a readable view without --json", async () => {
    answer = {
      status: 200,
      body: { device: { deviceId: "d-1", state: "ACTIVE", batchId: "lot-1" }, history: [] },
    };
    await run("device", "show", "d-1", "--api-url", "http://api");
    expect(out.join("")).toMatch(/^device {7}d-1\nstate {8}ACTIVE/);
  });

  it("sends the reason and the idempotency key of an action", async () => {
    answer = { status: 200, body: { device: { deviceId: "d-1", state: "REVOKED" }, connection: "dropped" } };
    const code = await run(
      "device",
      "revoke",
      "d-1",
      "--reason",
      "key leaked",
      "--idempotency-key",
      "k-1",
      "--api-url",
      "http://api",
    );
    expect(code).toBe(EXIT.ok);
    expect(requests[0]).toEqual({
      apiUrl: "http://api",
      method: "POST",
      path: "/devices/d-1/revoke",
      body: { reason: "key leaked" },
      idempotencyKey: "k-1",
    });
  });

  it("turns a problem answer into one clear line and an exit code", async () => {
    answer = {
      status: 409,
      body: { title: "illegal transition", detail: "cannot reactivate a device that is REVOKED" },
    };
    expect(await run("device", "reactivate", "d-1", "--api-url", "http://api")).toBe(5);
    expect(err.join("")).toMatch(/409 illegal transition: cannot reactivate a device that is REVOKED/);
    answer = { status: 404, body: { title: "not found", detail: "device ghost does not exist" } };
    expect(await run("device", "show", "ghost", "--api-url", "http://api")).toBe(EXIT.notFound);
  });

  it("asks for the API URL when none is given", async () => {
    expect(await run("device", "show", "d-1")).toBe(EXIT.invalid);
    expect(err.join("")).toMatch(/--api-url or set FLEETGATE_API_URL/);
  });
});
