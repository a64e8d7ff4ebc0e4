import { afterEach, describe, expect, it, vi } from "vitest";
import { EXIT } from "#cli/failures.js";
import { closedPort, type LocalServer, localServer, type Reply } from "./local-server.js";
import { awsEnvironment, runProcessCli, STATIC_KEYS } from "./real-cli.js";

let server: LocalServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.unstubAllEnvs();
});

/** `device show d-1` against an API answering `reply`, with credentials and a region set. */
const showAgainst = async (reply: Reply, ...extra: string[]) => {
  awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1" } });
  server = await localServer(() => reply);
  return runProcessCli(["device", "show", "d-1", "--api-url", `${server.url}/prod`, ...extra]);
};

describe("exit codes mean the same for every command", () => {
  it.each([
    [200, EXIT.ok],
    [400, EXIT.invalid],
    [404, EXIT.notFound],
    [409, EXIT.conflict],
    [401, EXIT.notAuthorised],
    [403, EXIT.notAuthorised],
    [500, EXIT.failed],
    [503, EXIT.failed],
  ])("an API answer %i exits %i", async (status, code) => {
    const body =
      status === 200 ? { device: { deviceId: "d-1", state: "ACTIVE" } } : { title: "t", detail: "d" };
    expect((await showAgainst({ status, body })).code).toBe(code);
  });

  it("a wrong key (403 from the gateway) exits 6, naming the request and what to check, never the bad-input code", async () => {
    const run = await showAgainst({
      status: 403,
      body: { message: "The request signature we calculated does not match the signature you provided." },
    });
    expect(run.code).toBe(EXIT.notAuthorised);
    expect(run.stderr).toContain(
      `fleetgate: 403 not authorised: The request signature we calculated does not match the signature you provided. (GET ${server?.url}/prod/devices/d-1)`,
    );
    expect(run.stderr).toMatch(/check --profile .* execute-api:Invoke/);
  });

  it("a refused connection exits 7, naming the URL and the refusal", async () => {
    awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1" } });
    const port = await closedPort();
    const run = await runProcessCli(["device", "show", "d-1", "--api-url", `http://127.0.0.1:${port}`]);
    expect(run.code).toBe(EXIT.unreachable);
    expect(run.stderr).toContain(
      `cannot reach GET http://127.0.0.1:${port}/devices/d-1: connection refused: nothing listens on 127.0.0.1:${port}`,
    );
  });

  it("an unknown host exits 7 saying the DNS lookup failed", async () => {
    awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1" } });
    const run = await runProcessCli([
      "device",
      "list",
      "--state",
      "ACTIVE",
      "--api-url",
      "https://api.fleetgate.invalid",
    ]);
    expect(run.code).toBe(EXIT.unreachable);
    expect(run.stderr).toContain(
      "cannot reach GET https://api.fleetgate.invalid/devices: DNS: no such host api.fleetgate.invalid",
    );
  });

  it("no credentials anywhere exits 6 saying where to give them, before any request is sent", async () => {
    awsEnvironment({ env: { AWS_REGION: "eu-west-1" } });
    server = await localServer(() => ({ status: 200, body: {} }));
    const run = await runProcessCli(["device", "show", "d-1", "--api-url", server.url]);
    expect(run.code).toBe(EXIT.notAuthorised);
    expect(run.stderr).toMatch(/^fleetgate: no AWS credentials: .*\n {2}give --profile, set AWS_PROFILE/);
    expect(server.received).toEqual([]);
  });

  it("a gateway's error page that is not JSON is shown as its text", async () => {
    const run = await showAgainst({ status: 502, body: "Bad Gateway" });
    expect(run.code).toBe(EXIT.failed);
    expect(run.stderr).toContain("fleetgate: 502 failed: Bad Gateway (GET");
  });

  it("a manifest that does not exist is bad input, not a failure", async () => {
    awsEnvironment();
    const run = await runProcessCli(["batch", "register", "/nonexistent/lot.csv", "--ca", "a".repeat(64)]);
    expect(run.code).toBe(EXIT.invalid);
    expect(run.stderr).toContain("no such file: /nonexistent/lot.csv");
  });
});

describe("errors with --json", () => {
  it("are one JSON document on stderr: kind, exit code, request and the API's problem", async () => {
    const problem = { title: "illegal transition", detail: "cannot reactivate a device that is REVOKED" };
    const run = await showAgainst({ status: 409, body: problem }, "--json");
    expect(run.stdout).toBe("");
    expect(JSON.parse(run.stderr)).toEqual({
      error: {
        kind: "conflict",
        exitCode: EXIT.conflict,
        message: "409 illegal transition: cannot reactivate a device that is REVOKED",
        method: "GET",
        url: `${server?.url}/prod/devices/d-1`,
        status: 409,
        problem,
      },
    });
  });

  it("are JSON when the API cannot be reached, and when the command line is wrong", async () => {
    awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1" } });
    const port = await closedPort();
    const unreachable = await runProcessCli([
      "device",
      "show",
      "d-1",
      "--json",
      "--api-url",
      `http://127.0.0.1:${port}`,
    ]);
    expect(JSON.parse(unreachable.stderr).error).toMatchObject({ kind: "unreachable", exitCode: 7 });
    const wrong = await runProcessCli(["device", "show", "--json"]);
    expect(wrong.code).toBe(EXIT.invalid);
    expect(JSON.parse(wrong.stderr).error).toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/missing required argument/),
    });
  });
});
