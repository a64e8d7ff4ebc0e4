import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { Command, CommanderError } from "commander";
import { type BatchDeps, registerBatch } from "#app/register-batch.js";
import {
  AlreadyExistsError,
  ConflictError,
  DomainError,
  NotFoundError,
  ValidationError,
} from "#domain/errors.js";
import type { ApiAnswer, ApiClient } from "./api-client.js";
import {
  addDeviceCommands,
  apiCommandKit,
  type CommonOptions,
  type DeviceCommandIo,
} from "./api-commands.js";

/** What the CLI needs from outside: built lazily, so `--help` works without configuration. */
export type CliDeps = BatchDeps;

export interface CliIo {
  readonly deps: () => CliDeps;
  readonly devices: DeviceCommandIo;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly actor: string;
}

/** Exit codes: scripts on the manufacturing line branch on them. */
export const EXIT = { ok: 0, failed: 1, invalid: 2, partial: 3, notFound: 4, conflict: 5 } as const;

const json = (value: unknown): string => JSON.stringify(value, null, 2);

export const buildProgram = (io: CliIo): Command => {
  const program = new Command("fleetgate")
    .description("Device provisioning for AWS IoT Core: allowlist batches and device lifecycle.")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  const kit = apiCommandKit(io.devices, io.err);
  const batch = program.command("batch").description("manufacturing batches (the allowlist)");
  kit
    .common(
      batch
        .command("register")
        .description(
          "put the devices of a manifest (CSV with a header, or JSON lines) on the allowlist: through the API when an API URL is given (inline, or uploaded when large), else straight into DEVICES_TABLE",
        )
        .argument("<manifest>", "path of the manifest file")
        .requiredOption(
          "--ca <caCertificateId>",
          "id of the registered CA that issued the batch's device certificates",
        )
        .option("--batch-id <batchId>", "batch id (default: derived from the manifest's SHA-256)")
        .option("--signature <file>", "detached ECDSA P-256 signature of the manifest (DER, or its base64)")
        .option(
          "--upload",
          "upload the manifest to S3 whatever its size (a manifest that carries certificates must be uploaded)",
        ),
    )
    .action(
      async (
        manifestPath: string,
        options: CommonOptions & { ca: string; batchId?: string; signature?: string; upload?: boolean },
      ) => {
        const size = (await stat(manifestPath)).size;
        const signature = options.signature ? signatureText(await readFile(options.signature)) : undefined;
        if (options.apiUrl) {
          await kit.call(
            options,
            (api) => registerThroughApi(api, manifestPath, size, { ...options, signature }),
            "register",
            registrationExit,
          );
          return;
        }
        const result = await registerBatch(io.deps(), {
          open: () => createReadStream(manifestPath),
          ...(signature ? { signature } : {}),
          caCertificateId: options.ca,
          ...(options.batchId ? { batchId: options.batchId } : {}),
          actor: io.actor,
          source: `file:${basename(manifestPath)}`,
        });
        io.out(json(result));
        program.setOptionValue("exitCode", batchExit(result.batch));
      },
    );
  kit
    .common(
      batch
        .command("show")
        .description("a batch's counts, state, bad rows and recall progress")
        .argument("<batchId>"),
    )
    .action((batchId: string, options: CommonOptions) =>
      kit.call(options, (api) => api("GET", `/batches/${encodeURIComponent(batchId)}`), "batch"),
    );
  kit
    .common(
      batch
        .command("list")
        .description("batches, most recent first")
        .option("--limit <n>")
        .option("--cursor <cursor>"),
    )
    .action((options: CommonOptions & { limit?: string; cursor?: string }) => {
      const query: Record<string, string> = {};
      if (options.limit) query.limit = options.limit;
      if (options.cursor) query.cursor = options.cursor;
      return kit.call(options, (api) => api("GET", "/batches", { query }), "batches");
    });
  kit
    .common(
      batch
        .command("recall")
        .description("take every device of a batch off the allowlist and revoke its certificate")
        .argument("<batchId>")
        .requiredOption("--reason <text>", "why (recorded on every device)"),
    )
    .action((batchId: string, options: CommonOptions & { reason: string }) =>
      kit.call(
        options,
        (api) =>
          api("POST", `/batches/${encodeURIComponent(batchId)}/recall`, { body: { reason: options.reason } }),
        "recall",
      ),
    );

  addDeviceCommands(program, kit);

  return program;
};

/** A batch with rejected rows exits 3; one whose manifest was refused whole (a FAILED batch saying why), 2. */
const batchExit = (batch: { readonly state?: unknown; readonly error?: unknown }): number => {
  if (batch.state === "FAILED" && batch.error) return EXIT.invalid;
  return batch.state === "PARTIAL" || batch.state === "FAILED" ? EXIT.partial : EXIT.ok;
};

/**
 * The exit code of a registration through the API, as without it: the answer is the batch (inline,
 * or an upload's outcome), or a 422 when no row could be registered.
 */
const registrationExit = (answer: ApiAnswer): number | undefined => {
  if (answer.status === 422) return EXIT.partial;
  if (answer.status >= 300) return undefined;
  const body = answer.body as { readonly batch?: object } | undefined;
  return batchExit(body?.batch ?? body ?? {});
};

// `openssl dgst -sha256 -sign key.pem` writes DER; `| base64` makes it text: accept either.
const signatureText = (bytes: Buffer): string => {
  const text = bytes.toString("utf8").trim();
  return /^[A-Za-z0-9+/=\s]+$/.test(text) && text.length > 0
    ? text.replace(/\s/g, "")
    : bytes.toString("base64");
};

// Lambda takes 6 MB synchronously; above this a manifest goes through an S3 upload.
const INLINE_LIMIT = 5 * 1024 * 1024;

/** Sends a manifest inline, or uploads it and waits for the ingest to finish. */
const registerThroughApi = async (
  api: ApiClient,
  path: string,
  size: number,
  options: { ca: string; batchId?: string; signature?: string | undefined; upload?: boolean },
): Promise<ApiAnswer> => {
  const signature = options.signature ? { "x-manifest-signature": options.signature } : undefined;
  if (size <= INLINE_LIMIT && !options.upload) {
    const text = await readFile(path, "utf8");
    const contentType = text.trimStart().startsWith("{") ? "application/x-ndjson" : "text/csv";
    return api("POST", "/batches", {
      query: { caCertificateId: options.ca, ...(options.batchId ? { batchId: options.batchId } : {}) },
      raw: { contentType, text },
      ...(signature ? { headers: signature } : {}),
    });
  }
  const ticket = await api("POST", "/batches/uploads", {
    body: {
      caCertificateId: options.ca,
      ...(options.batchId ? { batchId: options.batchId } : {}),
      ...(options.signature ? { signature: options.signature } : {}),
    },
  });
  if (ticket.status >= 300) return ticket;
  const { uploadUrl, headers, batchId } = ticket.body as {
    uploadUrl: string;
    headers: Record<string, string>;
    batchId: string;
  };
  const put = await fetch(uploadUrl, {
    method: "PUT",
    headers,
    body: createReadStream(path) as never,
    duplex: "half",
  } as RequestInit);
  if (!put.ok) return { status: 502, body: { title: "upload failed", detail: `S3 answered ${put.status}` } };
  // The ingest runs on the upload's S3 event; its outcome appears on the batch. Polled every
  // second at first (small manifests are done in seconds), then every five.
  for (let waited = 0; waited < 900_000; ) {
    const batch = await api("GET", `/batches/${encodeURIComponent(batchId)}`);
    if (batch.status === 200 && (batch.body as { state?: string }).state !== "RECEIVED") return batch;
    const pause = waited < 30_000 ? 1_000 : 5_000;
    await new Promise((resolve) => setTimeout(resolve, pause));
    waited += pause;
  }
  return { status: 504, body: { title: "still ingesting", detail: `see fleetgate batch show ${batchId}` } };
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
    if (error instanceof ConflictError || error instanceof AlreadyExistsError) return EXIT.conflict;
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
