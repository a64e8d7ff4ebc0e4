import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { LocalStack } from "./local-stack.js";

/**
 * The fleetgate CLI as an operator runs it against the local stack: a process of its own, calling
 * the deployed operations API over HTTPS with SigV4.
 */
const ROOT = new URL("../../", import.meta.url).pathname;
const run = promisify(execFile);

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** What an operator's shell needs to point the CLI at the local stack. */
export const localCliEnvironment = (stack: LocalStack): Record<string, string> => ({
  AWS_ACCESS_KEY_ID: stack.aws.rootCredentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: stack.aws.rootCredentials.secretAccessKey,
  AWS_REGION: stack.aws.region,
  // The `ca` commands call IoT Core with the operator's credentials: the SDK reads this itself.
  AWS_ENDPOINT_URL: stack.aws.endpoint,
  NODE_EXTRA_CA_CERTS: stack.aws.caBundlePath,
  FLEETGATE_API_URL: stack.apiUrl,
});

export const localCli =
  (stack: LocalStack) =>
  async (args: readonly string[]): Promise<CliResult> => {
    try {
      const { stdout, stderr } = await run(process.execPath, [join(ROOT, "bin", "fleetgate.mjs"), ...args], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
          ...localCliEnvironment(stack),
        },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? 1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
    }
  };
