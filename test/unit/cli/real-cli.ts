import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vi } from "vitest";
import { processIo } from "#cli/process-io.js";
import { runCli } from "#cli/program.js";

export const TEST_VERSION = "9.8.7";

/** What the CLI's AWS configuration is made of; anything not given is absent. */
export interface AwsSetup {
  readonly env?: Record<string, string>;
  /** The shared config file (`[profile ops]` sections) and credentials file (`[ops]`). */
  readonly config?: string;
  readonly credentials?: string;
}

/**
 * The process environment as the CLI would find it with only `setup`: every AWS variable the SDK
 * or the CLI reads is set or removed, shared files are fresh temporary ones (the SDK caches files
 * by path), and instance metadata is off. Undone by vi.unstubAllEnvs.
 */
export const awsEnvironment = (setup: AwsSetup = {}): void => {
  const dir = mkdtempSync(join(tmpdir(), "fleetgate-aws-"));
  writeFileSync(join(dir, "config"), setup.config ?? "");
  writeFileSync(join(dir, "credentials"), setup.credentials ?? "");
  const absent = [
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "FLEETGATE_API_URL",
  ];
  for (const name of absent) vi.stubEnv(name, undefined);
  vi.stubEnv("AWS_CONFIG_FILE", join(dir, "config"));
  vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", join(dir, "credentials"));
  vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
  vi.stubEnv("AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED", "true");
  for (const [name, value] of Object.entries(setup.env ?? {})) vi.stubEnv(name, value);
};

export const STATIC_KEYS = { AWS_ACCESS_KEY_ID: "AKIAENVIRONMENT00001", AWS_SECRET_ACCESS_KEY: "secret" };

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI as main.ts runs it (the process's io, from the environment), its output captured. */
export const runProcessCli = async (argv: readonly string[], { tty = false } = {}): Promise<CliRun> => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runCli(
    argv,
    processIo(
      {
        stdout: { write: (text: string) => stdout.push(text) },
        stderr: { write: (text: string) => stderr.push(text), isTTY: tty },
      },
      TEST_VERSION,
    ),
  );
  return { code, stdout: stdout.join(""), stderr: stderr.join("") };
};
