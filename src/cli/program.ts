import { createReadStream } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { basename } from "node:path";
import { Command, CommanderError } from "commander";
import type { Clock, LifecycleStore } from "#app/ports.js";
import { registerBatch } from "#app/register-batch.js";
import { DomainError, NotFoundError, ValidationError } from "#domain/errors.js";
import type { ManifestRules } from "#domain/manifest.js";
import { addDeviceCommands, type DeviceCommandIo } from "./device-commands.js";

/** What the CLI needs from outside: built lazily, so `--help` works without configuration. */
export interface CliDeps {
  readonly store: LifecycleStore;
  readonly clock: Clock;
  readonly manifestRules: ManifestRules;
}

export interface CliIo {
  readonly deps: () => CliDeps;
  readonly devices: DeviceCommandIo;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly actor: string;
}

/** Exit codes: scripts on the manufacturing line branch on them. */
export const EXIT = { ok: 0, failed: 1, invalid: 2, partial: 3, notFound: 4 } as const;

const json = (value: unknown): string => JSON.stringify(value, null, 2);

export const buildProgram = (io: CliIo): Command => {
  const program = new Command("fleetgate")
    .description("Device provisioning for AWS IoT Core: allowlist batches and device lifecycle.")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  const batch = program.command("batch").description("manufacturing batches (the allowlist)");
  batch
    .command("register")
    .description("put the devices of a manifest (CSV with a header, or JSON lines) on the allowlist")
    .argument("<manifest>", "path of the manifest file")
    .requiredOption(
      "--ca <caCertificateId>",
      "id of the registered CA that issued the batch's device certificates",
    )
    .option("--batch-id <batchId>", "batch id (default: derived from the manifest's SHA-256)")
    .option("--signature <file>", "detached ECDSA P-256 signature of the manifest (DER, or its base64)")
    .action(async (manifestPath: string, options: { ca: string; batchId?: string; signature?: string }) => {
      await access(manifestPath);
      const signature = options.signature ? signatureText(await readFile(options.signature)) : undefined;
      const result = await registerBatch(io.deps(), {
        open: () => createReadStream(manifestPath),
        ...(signature ? { signature } : {}),
        caCertificateId: options.ca,
        ...(options.batchId ? { batchId: options.batchId } : {}),
        actor: io.actor,
        source: `file:${basename(manifestPath)}`,
      });
      io.out(json(result));
      if (result.batch.state === "PARTIAL" || result.batch.state === "FAILED")
        program.setOptionValue("exitCode", EXIT.partial);
    });

  addDeviceCommands(program, io.devices, io.err);

  return program;
};

// `openssl dgst -sha256 -sign key.pem` writes DER; `| base64` makes it text: accept either.
const signatureText = (bytes: Buffer): string => {
  const text = bytes.toString("utf8").trim();
  return /^[A-Za-z0-9+/=\s]+$/.test(text) && text.length > 0
    ? text.replace(/\s/g, "")
    : bytes.toString("base64");
};

/** Runs the CLI and returns its exit code; errors become one clear line on stderr. */
export const runCli = async (
  argv: readonly string[],
  io: Omit<CliIo, "devices"> & { devices: Omit<DeviceCommandIo, "exit"> },
): Promise<number> => {
  let exitCode: number | undefined;
  const program = buildProgram({
    ...io,
    devices: {
      ...io.devices,
      exit: (code) => {
        exitCode = code;
      },
    },
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode ?? (program.getOptionValue("exitCode") as number | undefined) ?? EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    io.err(`fleetgate: ${describeError(error)}`);
    if (error instanceof ValidationError) return EXIT.invalid;
    if (error instanceof NotFoundError) return EXIT.notFound;
    return EXIT.failed;
  }
};

const describeError = (error: unknown): string => {
  if (error instanceof ValidationError && error.issues.length > 0)
    return `${error.message}: ${error.issues.join("; ")}`;
  if (error instanceof DomainError) return error.message;
  if ((error as NodeJS.ErrnoException).code === "ENOENT")
    return `no such file: ${(error as NodeJS.ErrnoException).path}`;
  return error instanceof Error ? error.message : String(error);
};
