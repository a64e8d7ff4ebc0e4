import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

/**
 * A server process the local stack or the tests start on loopback ports: started, waited for
 * until it answers, and stopped by its own process id (SIGTERM, then SIGKILL).
 */
export interface LocalServer {
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the kernel picks it). */
export const freePort = (): Promise<number> =>
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

export interface LocalServerSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Resolves true once the server serves. */
  readonly ready: () => Promise<boolean>;
  readonly startupTimeoutMs: number;
  /** Where the server's output goes; by default only its last lines are kept, for errors. */
  readonly logFile?: number;
  /** What to say when the command cannot be started at all. */
  readonly hint: string;
}

export const startLocalServer = async (spec: LocalServerSpec): Promise<LocalServer> => {
  const child: ChildProcess = spawn(spec.command, [...spec.args], {
    stdio: ["ignore", spec.logFile ?? "ignore", spec.logFile ?? "pipe"],
    env: spec.env,
  });
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  let exited: string | undefined;
  child.on("exit", (code, signal) => {
    exited = `${spec.name} exited (${code ?? signal})`;
  });
  child.on("error", (error) => {
    exited = `${spec.name} could not start: ${error.message} (${spec.hint})`;
  });
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null || exited) return resolve();
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill("SIGTERM");
    });
  const deadline = Date.now() + spec.startupTimeoutMs;
  while (!(await spec.ready())) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(
        `${exited ?? `${spec.name} did not answer within ${spec.startupTimeoutMs} ms`}\n${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { stop };
};
