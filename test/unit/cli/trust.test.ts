import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { EXIT } from "#cli/failures.js";
import { type GatewayTls, gatewayTls } from "#local/gateway-tls.js";
import { type LocalServer, localServer, type Received, type Reply } from "./local-server.js";
import { awsEnvironment, runProcessCli, STATIC_KEYS } from "./real-cli.js";

const dir = mkdtempSync(join(tmpdir(), "fleetgate-trust-"));
/** The API's certificate is issued by `api`'s CA; `other` is a CA that did not issue it. */
let api: GatewayTls;
let other: GatewayTls;
let server: LocalServer | undefined;

beforeAll(async () => {
  [api, other] = await Promise.all([gatewayTls(join(dir, "api")), gatewayTls(join(dir, "other"))]);
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.unstubAllEnvs();
});

const DEVICE = { status: 200, body: { device: { deviceId: "d-1", state: "ACTIVE" } } };

const showOverHttps = async (
  env: Record<string, string>,
  reply: (request: Received) => Reply = () => DEVICE,
) => {
  awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1", ...env } });
  server = await localServer(reply, api);
  return runProcessCli(["device", "show", "d-1", "--api-url", server.url]);
};

describe("the CAs the CLI trusts for the API", () => {
  it("refuses an API whose CA it does not know: exit 7, the URL, TLS and AWS_CA_BUNDLE named", async () => {
    const run = await showOverHttps({});
    expect(run.code).toBe(EXIT.unreachable);
    expect(run.stderr).toMatch(
      /cannot reach GET https:\/\/127\.0\.0\.1:\d+\/devices\/d-1: TLS: .*certificate/,
    );
    expect(run.stderr).toMatch(/AWS_CA_BUNDLE/);
  });

  it("trusts the CAs of the PEM file AWS_CA_BUNDLE names", async () => {
    const run = await showOverHttps({ AWS_CA_BUNDLE: api.caPath });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(EXIT.ok);
  });

  it("still trusts NODE_EXTRA_CA_CERTS when AWS_CA_BUNDLE names another CA", async () => {
    const run = await showOverHttps({ AWS_CA_BUNDLE: other.caPath, NODE_EXTRA_CA_CERTS: api.caPath });
    expect(run.code).toBe(EXIT.ok);
  });

  it("does not trust a CA only because AWS_CA_BUNDLE is set", async () => {
    expect((await showOverHttps({ AWS_CA_BUNDLE: other.caPath })).code).toBe(EXIT.unreachable);
  });

  it("says so when AWS_CA_BUNDLE names a file that cannot be read (bad input)", async () => {
    const run = await showOverHttps({ AWS_CA_BUNDLE: join(dir, "missing.pem") });
    expect(run.code).toBe(EXIT.invalid);
    expect(run.stderr).toContain(`AWS_CA_BUNDLE names ${join(dir, "missing.pem")}, which cannot be read`);
  });

  it("uploads a manifest over HTTPS trusting AWS_CA_BUNDLE, with its length, and waits for the ingest", async () => {
    const text = "deviceId\nd-1\nd-2\n";
    const manifest = join(dir, "lot.csv");
    writeFileSync(manifest, text);
    awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1", AWS_CA_BUNDLE: api.caPath } });
    server = await localServer((request) => {
      if (request.method === "POST") {
        const uploadUrl = `${server?.url}/bucket/lot.csv?X-Amz-Signature=s`;
        return { status: 201, body: { batchId: "lot-1", uploadUrl, headers: { "x-amz-meta-ca": "c" } } };
      }
      if (request.method === "PUT") return { status: 200 };
      return {
        status: 200,
        body: { batchId: "lot-1", state: "REGISTERED", counts: { rows: 2, accepted: 2 } },
      };
    }, api);
    const run = await runProcessCli([
      "batch",
      "register",
      manifest,
      "--ca",
      "a".repeat(64),
      "--upload",
      "--api-url",
      server.url,
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(EXIT.ok);
    expect(server.received.map((request) => `${request.method} ${request.path}`)).toEqual([
      "POST /batches/uploads",
      "PUT /bucket/lot.csv?X-Amz-Signature=s",
      "GET /batches/lot-1",
    ]);
    expect(server.received[1]).toMatchObject({
      headers: { "content-length": String(Buffer.byteLength(text)), "x-amz-meta-ca": "c" },
      body: text,
    });
  });
});
