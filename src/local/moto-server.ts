import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";

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
const STARTUP_TIMEOUT_MS = 30_000;

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });

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
  const child: ChildProcess = spawn(
    join(venv, "bin", "moto_server"),
    ["-H", "127.0.0.1", "-p", String(port)],
    // moto points its own callbacks (Step Functions, CloudFormation custom resources) at MOTO_PORT when set.
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, MOTO_PORT: String(port) } },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited: string | undefined;
  child.on("exit", (code, signal) => {
    exited = `moto_server exited (${code ?? signal})`;
  });
  child.on("error", (error) => {
    exited = `moto_server could not start: ${error.message} (run: node scripts/python-env.mjs)`;
  });
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!(await answers(endpoint))) {
    if (exited || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(
        `${exited ?? `moto_server did not answer on ${endpoint} within ${STARTUP_TIMEOUT_MS} ms`}\n${stderr}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    endpoint,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || exited) return resolve();
        const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
        child.once("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
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
