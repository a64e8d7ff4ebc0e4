import { afterEach, describe, expect, it, vi } from "vitest";

/** X-Ray sees a traced function's AWS calls: its SDK clients carry the X-Ray SDK's instrumentation. */
const LAMBDA = {
  AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
  LAMBDA_TASK_ROOT: "/var/task",
  _X_AMZN_TRACE_ID: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
  AWS_REGION: "us-east-1",
};

const instrumented = (client: { middlewareStack: { identify(): string[] } }) =>
  client.middlewareStack.identify().some((name) => name.startsWith("XRaySDKInstrumentation"));

const freshClients = async (environment: Record<string, string>, traced: boolean) => {
  vi.resetModules();
  for (const [name, value] of Object.entries(environment)) vi.stubEnv(name, value);
  if (traced) (await import("#adapters/tracing.js")).traceAwsCalls();
  const clients = await import("#adapters/aws-clients.js");
  return [clients.iotClient(), clients.dynamoDbClient(), clients.s3Client(), clients.sqsClient()];
};

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("tracing AWS calls", () => {
  it("sends every call of a traced function's clients through X-Ray in Lambda", async () => {
    const clients = await freshClients(LAMBDA, true);
    expect(clients.map(instrumented)).toEqual([true, true, true, true]);
  });

  it("leaves the clients of a function that does not trace as they are", async () => {
    const clients = await freshClients(LAMBDA, false);
    expect(clients.map(instrumented)).toEqual([false, false, false, false]);
  });

  it("traces nothing outside Lambda (tests, the CLI)", async () => {
    const clients = await freshClients({ AWS_REGION: "us-east-1" }, true);
    expect(clients.map(instrumented)).toEqual([false, false, false, false]);
  });

  it("can be turned off in Lambda with POWERTOOLS_TRACE_ENABLED=false", async () => {
    const clients = await freshClients({ ...LAMBDA, POWERTOOLS_TRACE_ENABLED: "false" }, true);
    expect(clients.map(instrumented)).toEqual([false, false, false, false]);
  });
});
