import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from "vitest";
import { type ApiClient, createApiClient } from "#cli/api-client.js";
import { type LocalApi, startLocalApi } from "#local/api-server.js";
import { sqsEvent } from "#local/iot-simulator.js";
import { OPERATOR } from "#test/support/api-world.js";
import { createMotoWorld, injectFailure, type MotoWorld } from "#test/support/moto-world.js";

/**
 * What an operator reads in CloudWatch: the functions' log lines (JSON, one a line; warnings and
 * errors on stderr) and their metrics (embedded metric format documents on stdout), as the
 * handlers write them.
 */
let world: MotoWorld;
let api: LocalApi;
let client: ApiClient;
let jitr: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
let clients: typeof import("#adapters/aws-clients.js");

const context = { functionName: "jitr", awsRequestId: "lambda-request" } as Context;
let stdout: string[];
let stderr: string[];

beforeAll(async () => {
  world = await createMotoWorld(inject("motoEndpoint"));
  // The other suites keep the functions quiet; here their output is the subject.
  Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: "INFO", POWERTOOLS_METRICS_DISABLED: "false" });
  ({ handler: jitr } = await import("#functions/jitr.js"));
  api = await startLocalApi((await import("#functions/operations-api.js")).handler, [OPERATOR]);
  client = createApiClient({ baseUrl: api.url, region: "us-east-1", credentials: async () => OPERATOR });
  clients = await import("#adapters/aws-clients.js");
});

afterAll(async () => {
  await api?.close();
});

beforeEach(() => {
  stdout = [];
  stderr = [];
  const capture = (lines: string[]) => (chunk: unknown) => {
    lines.push(...String(chunk).split("\n").filter(Boolean));
    return true;
  };
  vi.spyOn(process.stdout, "write").mockImplementation(capture(stdout));
  vi.spyOn(process.stderr, "write").mockImplementation(capture(stderr));
});

afterEach(() => {
  vi.restoreAllMocks();
});

type Json = Record<string, unknown>;
const documents = (): Json[] =>
  [...stdout, ...stderr].flatMap((line) => {
    try {
      return [JSON.parse(line) as Json];
    } catch {
      return [];
    }
  });
const logLines = () => documents().filter((d) => d._aws === undefined && typeof d.message === "string");
const metricDocuments = () => documents().filter((d) => d._aws !== undefined);

/** Every value published for a metric under exactly these dimensions, summed. */
const published = (name: string, dimensions: Record<string, string> = {}): number => {
  const wanted = ["service", ...Object.keys(dimensions)].sort();
  let total = 0;
  for (const document of metricDocuments()) {
    const directives = (document._aws as { CloudWatchMetrics: { Dimensions: string[][] }[] })
      .CloudWatchMetrics;
    const sets = directives.flatMap((directive) => directive.Dimensions.map((set) => [...set].sort()));
    if (!sets.some((set) => JSON.stringify(set) === JSON.stringify(wanted))) continue;
    if (Object.entries(dimensions).some(([key, value]) => document[key] !== value)) continue;
    const value = document[name];
    if (value !== undefined) total += [value].flat().reduce((a: number, b) => a + Number(b), 0);
  }
  return total;
};

describe("JITR telemetry", () => {
  it("counts a batch of plain refusals in total and by reason, without an empty-metrics warning", async () => {
    const expired = await world.connect({
      deviceId: world.id("tel-expired"),
      notBefore: new Date(Date.now() - 9e8),
      notAfter: new Date(Date.now() - 6e4),
    });
    const weak = await world.connect({ deviceId: world.id("tel-weak"), key: { type: "RSA", bits: 1024 } });

    expect(await jitr(sqsEvent([expired, weak]), context)).toEqual({ batchItemFailures: [] });

    expect(published("Refused")).toBe(2);
    expect(published("Refused", { Reason: "CERTIFICATE_EXPIRED" })).toBe(1);
    expect(published("Refused", { Reason: "KEY_WEAK" })).toBe(1);
    expect(published("SecurityEvent")).toBe(0);
    expect([...stdout, ...stderr].join("\n")).not.toMatch(/No application metrics to publish/);
  });

  it("names the device, its certificate and its batch on every log line of its provisioning", async () => {
    const deviceId = world.id("tel-ok");
    const batchId = await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });

    expect(await jitr(sqsEvent([message]), context)).toEqual({ batchItemFailures: [] });

    const lines = logLines();
    expect(lines.map((line) => line.message)).toContain("device provisioned");
    for (const line of lines)
      expect(line).toMatchObject({ deviceId, batchId, certificateId: message.certificateId });
    expect(published("Provisioned")).toBe(1);
  });

  it("names the device and batch on the line of a failure of ours too, once the entry was read", async () => {
    const deviceId = world.id("tel-retry");
    const batchId = await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });
    const stop = injectFailure(clients.iotClient(), { command: "CreateThingCommand", mode: "instead" });

    const answer = await jitr(sqsEvent([message]), context);
    stop();

    expect(answer.batchItemFailures).toHaveLength(1);
    const failure = logLines().find((line) => line.message === "provisioning failed; SQS will redeliver");
    expect(failure).toMatchObject({ deviceId, batchId, certificateId: message.certificateId });
    expect(published("RetriedEvent")).toBe(1);
  });

  it("counts a certificate waiting for its manifest in total and by reason", async () => {
    const early = await world.connect({ deviceId: world.id("tel-early") });

    await jitr(sqsEvent([early]), context);

    expect(published("Waiting")).toBe(1);
    expect(published("Waiting", { Reason: "NOT_ON_ALLOWLIST" })).toBe(1);
    expect(logLines().find((line) => line.message === "certificate waiting")).toMatchObject({
      deviceId: world.id("tel-early"),
    });
  });
});

describe("operations API telemetry", () => {
  it("names the caller and the request id on every log line of a request", async () => {
    await client("GET", `/devices/${world.id("nobody")}`);

    const lines = logLines();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines)
      expect(line).toMatchObject({ caller: OPERATOR.userArn, requestId: expect.any(String) });
  });

  it("counts a batch registered through the API with no row accepted as a failed batch", async () => {
    const answer = await client("POST", "/batches", {
      raw: { contentType: "text/csv", text: "deviceId\nnot a thing name!\n" },
      query: { caCertificateId: world.caCertificateId },
    });

    expect(answer.status).toBe(422);
    expect(published("BatchFailed")).toBe(1);
  });
});
