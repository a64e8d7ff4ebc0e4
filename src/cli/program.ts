import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { Command, CommanderError } from "commander";
import type { Clock, DeviceRegistry, LifecycleStore } from "#app/ports.js";
import { registerBatch } from "#app/register-batch.js";
import { showDevice } from "#app/show-device.js";
import { DomainError, NotFoundError, ValidationError } from "#domain/errors.js";
import type { ManifestRules } from "#domain/manifest.js";

/** What the CLI needs from outside: built lazily, so `--help` works without configuration. */
export interface CliDeps {
  readonly store: LifecycleStore;
  readonly registry: Pick<DeviceRegistry, "describeCertificate">;
  readonly clock: Clock;
  readonly manifestRules: ManifestRules;
}

export interface CliIo {
  readonly deps: () => CliDeps;
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
    .action(async (manifestPath: string, options: { ca: string; batchId?: string }) => {
      const manifest = await readFile(manifestPath);
      const result = await registerBatch(io.deps(), {
        manifest,
        caCertificateId: options.ca,
        ...(options.batchId ? { batchId: options.batchId } : {}),
        actor: io.actor,
        source: `file:${basename(manifestPath)}`,
      });
      io.out(json(result));
      if (result.batch.state === "PARTIAL" || result.batch.state === "FAILED")
        program.setOptionValue("exitCode", EXIT.partial);
    });

  const device = program.command("device").description("devices and their lifecycle");
  device
    .command("show")
    .description("print a device's state, certificate, batch and history as JSON")
    .argument("<deviceId>")
    .action(async (deviceId: string) => {
      io.out(json(await showDevice(io.deps(), deviceId)));
    });

  return program;
};

/** Runs the CLI and returns its exit code; errors become one clear line on stderr. */
export const runCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return (program.getOptionValue("exitCode") as number | undefined) ?? EXIT.ok;
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
