import { join } from "node:path";
import { freePort, startLocalServer } from "./local-server.js";

/**
 * The moto server (IoT, DynamoDB, S3, SQS emulator) on a free loopback port, for the local stack,
 * the integration tests and the benchmarks. The Python environment comes from scripts/python-env.mjs.
 */
export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

const ROOT = new URL("../../", import.meta.url).pathname;

const answers = async (endpoint: string): Promise<boolean> => {
  try {
    const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
};

export const startMotoServer = async (
  venv = process.env.FLEETGATE_VENV ?? join(ROOT, ".venv"),
): Promise<MotoServer> => {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const server = await startLocalServer({
    name: "moto_server",
    command: join(venv, "bin", "moto_server"),
    args: ["-H", "127.0.0.1", "-p", String(port)],
    // moto points its own callbacks (Step Functions, CloudFormation custom resources) at MOTO_PORT when set.
    env: { ...process.env, MOTO_PORT: String(port) },
    ready: () => answers(endpoint),
    startupTimeoutMs: 30_000,
    hint: "run: node scripts/python-env.mjs",
  });
  return { endpoint, port, stop: server.stop };
};

/**
 * Points every AWS SDK client made from now on at the emulator, with dummy credentials, quiet
 * Powertools and no Node-version notice; `settings` adds the functions' own configuration.
 */
export const useMotoEnvironment = (endpoint: string, settings: Record<string, string> = {}): void => {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? "SILENT",
    POWERTOOLS_METRICS_DISABLED: "true",
    // The Lambda runs on Node 22; locally Node 20 is supported and the SDK's notice is noise.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    ...settings,
  });
};
