import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { Command, CommanderError } from "commander";
import type { BatchDeps } from "#app/register-batch.js";
import type { ApiAnswer, ApiClient } from "./api-client.js";
import {
  addDeviceCommands,
  apiCommandKit,
  type CommonOptions,
  type DeviceCommandIo,
} from "./api-commands.js";
import { addCaCommands, type CaCommandIo } from "./ca-commands.js";
import { addClaimCommands, type ClaimCommandIo } from "./claim-commands.js";
import { addConfigCommand } from "./config-command.js";
import { addDiagnosisCommands } from "./diagnosis-commands.js";
import { addDlqCommands } from "./dlq-commands.js";
import { EXIT, type ExitName, failureOfError } from "./failures.js";
import { httpTransport, type Transport } from "./http.js";
import { addMaintenanceCommands } from "./maintenance-commands.js";
import { type Clock, megabytes, progressLines, systemClock } from "./progress.js";
import { addReplacementCommands } from "./replacement-commands.js";
import { addRotationCommands } from "./rotation-commands.js";
import { formatFailure } from "./terminal.js";

export { EXIT } from "./failures.js";

/** What the CLI needs from outside: built lazily, so `--help` works without configuration. */
export type CliDeps = BatchDeps;

export interface CliIo {
  /** The table's dependencies for registering without the API, with the AWS options given. */
  readonly deps: (aws: { readonly profile?: string; readonly region?: string }) => CliDeps | Promise<CliDeps>;
  readonly devices: DeviceCommandIo;
  /** IoT Core's CA registry and the CA key signer, for the `ca` commands. */
  readonly cas?: Omit<CaCommandIo, "out">;
  /** The deployment's claim dependencies, for the `claim` commands; the real ones by default. */
  readonly claims?: ClaimCommandIo["claims"];
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly actor: string;
  /** What `--version` prints. */
  readonly version?: string;
  /** Where progress lines of long work go (stderr on a terminal); none when absent. */
  readonly progress?: (text: string) => void;
  /** HTTP for the S3 upload PUT, trusting the same CAs as the API calls. */
  readonly http?: Transport;
  readonly clock?: Clock;
}

const json = (value: unknown): string => JSON.stringify(value, null, 2);

/** The commands; `jsonErrors` says when a parse error is to be reported as JSON instead (by runCli). */
export const buildProgram = (io: CliIo, jsonErrors: () => boolean = () => false): Command => {
  // Set before any subcommand is made: subcommands copy the output settings when created.
  const program = new Command("fleetgate")
    .description("Device provisioning for AWS IoT Core: allowlist batches and device lifecycle.")
    .exitOverride()
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      outputError: (text, write) => {
        if (!jsonErrors()) write(text);
      },
    });
  if (io.version) program.version(io.version, "-V, --version", "print fleetgate's version");

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
        .option(
          "--ca <caCertificateId>",
          "id of the registered CA that issued the batch's device certificates",
        )
        .option(
          "--fleet-only",
          "a batch without a CA: its devices are born only through fleet provisioning (instead of --ca)",
        )
        .option("--batch-id <batchId>", "batch id (default: derived from the manifest's SHA-256)")
        .option("--signature <file>", "detached ECDSA P-256 signature of the manifest (DER, or its base64)")
        .option(
          "--upload",
          "upload the manifest to S3 whatever its size (a manifest that carries certificates must be uploaded)",
        ),
    )
    .action(async (manifestPath: string, options: CommonOptions & RegistrationOptions, command: Command) => {
      // Never a batch without a CA by omission: its devices' certificates could never join.
      if ((options.ca === undefined) === (options.fleetOnly === undefined))
        command.error("error: give exactly one of --ca <caCertificateId> or --fleet-only");
      const size = (await stat(manifestPath)).size;
      const signature = options.signature ? signatureText(await readFile(options.signature)) : undefined;
      if (options.apiUrl) {
        const upload = {
          http: io.http ?? httpTransport(),
          clock: io.clock ?? systemClock,
          progress: options.json ? undefined : io.progress,
        };
        await kit.call(
          options,
          (api) => registerThroughApi(api, upload, manifestPath, size, { ...options, signature }),
          "register",
          registrationKind,
        );
        return;
      }
      const { registerBatch } = await import("#app/register-batch.js");
      const aws = {
        ...(options.profile ? { profile: options.profile } : {}),
        ...(options.region ? { region: options.region } : {}),
      };
      const result = await registerBatch(await io.deps(aws), {
        open: () => createReadStream(manifestPath),
        ...(signature ? { signature } : {}),
        ...(options.ca ? { caCertificateId: options.ca } : {}),
        ...(options.batchId ? { batchId: options.batchId } : {}),
        actor: io.actor,
        source: `file:${basename(manifestPath)}`,
      });
      io.out(json(result));
      program.setOptionValue("exitCode", EXIT[batchKind(result.batch)]);
    });
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
  addRotationCommands(program, kit);
  addDiagnosisCommands(program, kit);
  addReplacementCommands(program, kit, {
    out: io.out,
    exit: io.devices.exit,
    ...(io.devices.awsRegion ? { awsRegion: io.devices.awsRegion } : {}),
  });
  addMaintenanceCommands(program, kit, io.progress);
  addDlqCommands(program, {
    out: io.out,
    ...(io.progress ? { progress: io.progress } : {}),
    ...(io.devices.awsRegion ? { awsRegion: io.devices.awsRegion } : {}),
  });
  addConfigCommand(program, {
    out: io.out,
    ...(io.devices.awsRegion ? { awsRegion: io.devices.awsRegion } : {}),
  });
  addCaCommands(program, { ...(io.cas ?? noCas), out: io.out }, kit);
  addClaimCommands(program, {
    out: io.out,
    actor: io.actor,
    ...(io.devices.awsRegion ? { awsRegion: io.devices.awsRegion } : {}),
    ...(io.claims ? { claims: io.claims } : {}),
  });

  return program;
};

const noCas: Omit<CaCommandIo, "out"> = {
  cas: () => Promise.reject(new Error("no CA registry here")),
  signer: () => Promise.reject(new Error("no CA key signer here")),
  now: () => new Date(),
};

/** A batch with rejected rows exits 3; one whose manifest was refused whole (a FAILED batch saying why), 2. */
const batchKind = (batch: { readonly state?: unknown; readonly error?: unknown }): ExitName => {
  if (batch.state === "FAILED" && batch.error) return "invalid";
  return batch.state === "PARTIAL" || batch.state === "FAILED" ? "partial" : "ok";
};

/**
 * The outcome of a registration through the API, as without it: the answer is the batch (inline,
 * or an upload's outcome), or a 422 when no row could be registered.
 */
const registrationKind = (answer: ApiAnswer): ExitName | undefined => {
  if (answer.status === 422) return "partial";
  if (answer.status >= 300) return undefined;
  const body = answer.body as { readonly batch?: object } | undefined;
  return batchKind(body?.batch ?? body ?? {});
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

interface UploadIo {
  readonly http: Transport;
  readonly clock: Clock;
  readonly progress: ((text: string) => void) | undefined;
}

interface RegistrationOptions {
  readonly ca?: string | undefined;
  readonly fleetOnly?: boolean | undefined;
  readonly batchId?: string | undefined;
  readonly signature?: string | undefined;
  readonly upload?: boolean | undefined;
}

/** Sends a manifest inline, or uploads it and waits for the ingest to finish. */
const registerThroughApi = async (
  api: ApiClient,
  io: UploadIo,
  path: string,
  size: number,
  options: RegistrationOptions,
): Promise<ApiAnswer> => {
  if (size <= INLINE_LIMIT && !options.upload) return registerInline(api, path, options);
  const ticket = await api("POST", "/batches/uploads", {
    body: {
      ...(options.ca ? { caCertificateId: options.ca } : { fleetOnly: true }),
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
  const refused = await uploadManifest(io, path, size, new URL(uploadUrl), headers);
  return refused ?? waitForIngest(api, io, batchId);
};

const registerInline = async (api: ApiClient, path: string, options: RegistrationOptions) => {
  const text = await readFile(path, "utf8");
  const contentType = text.trimStart().startsWith("{") ? "application/x-ndjson" : "text/csv";
  return api("POST", "/batches", {
    query: {
      ...(options.ca ? { caCertificateId: options.ca } : { fleetOnly: "true" }),
      ...(options.batchId ? { batchId: options.batchId } : {}),
    },
    raw: { contentType, text },
    ...(options.signature ? { headers: { "x-manifest-signature": options.signature } } : {}),
  });
};

/** PUTs the manifest to its presigned URL, saying how far it got; an answer only if S3 refused it. */
const uploadManifest = async (
  io: UploadIo,
  path: string,
  size: number,
  url: URL,
  headers: Record<string, string>,
): Promise<ApiAnswer | undefined> => {
  const progress = progressLines(io.progress, io.clock);
  const stream = createReadStream(path);
  let sent = 0;
  const report = (last = false) =>
    progress(
      `uploading ${basename(path)}: ${megabytes(sent)} of ${megabytes(size)} (${size ? Math.floor((sent / size) * 100) : 100}%)`,
      last,
    );
  stream.on("data", (chunk) => {
    sent += chunk.length;
    report();
  });
  const put = await io.http({ method: "PUT", url, headers, body: { stream, length: size } });
  if (put.status >= 300)
    return {
      status: 502,
      body: { title: "upload refused", detail: `S3 answered ${put.status}: ${put.text.slice(0, 500)}` },
      method: "PUT",
      url: `${url.origin}${url.pathname}`,
    };
  report(true);
  return undefined;
};

// The ingest runs on the upload's S3 event; its outcome appears on the batch. Polled every second
// at first (small manifests are done in seconds), then every five, for up to 15 minutes.
const INGEST_WAIT_MS = 900_000;

const waitForIngest = async (api: ApiClient, io: UploadIo, batchId: string): Promise<ApiAnswer> => {
  const progress = progressLines(io.progress, io.clock);
  const started = io.clock.now();
  for (;;) {
    const batch = await api("GET", `/batches/${encodeURIComponent(batchId)}`);
    const state = (batch.body as { state?: string } | undefined)?.state;
    if (batch.status === 200 && state !== "RECEIVED") return batch;
    const waited = io.clock.now() - started;
    if (waited >= INGEST_WAIT_MS)
      return {
        status: 504,
        body: { title: "still ingesting", detail: `see fleetgate batch show ${batchId}` },
      };
    progress(
      `batch ${batchId} is ${batch.status === 200 ? state : "not recorded yet"}, waiting for the ingest`,
    );
    await io.clock.sleep(waited < 30_000 ? 1_000 : 5_000);
  }
};

/** What runCli takes: the CLI's io but the exit code, which it returns. */
export type RunIo = Omit<CliIo, "devices"> & { readonly devices: Omit<DeviceCommandIo, "exit"> };

/** Runs the CLI and returns its exit code; errors become one clear line (or JSON) on stderr. */
export const runCli = async (argv: readonly string[], io: RunIo): Promise<number> => {
  let exitCode: number | undefined;
  // Known for sure once a command's options are parsed; before that (a parse error), from argv.
  let json = argv.includes("--json");
  const program = buildProgram(
    {
      ...io,
      devices: {
        ...io.devices,
        exit: (code) => {
          exitCode = code;
        },
      },
    },
    () => json,
  ).hook("preAction", (_program, command) => {
    json = command.opts().json === true;
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode ?? (program.getOptionValue("exitCode") as number | undefined) ?? EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return EXIT.ok;
      if (json) io.err(formatFailure({ kind: "invalid", message: error.message }, true));
      return EXIT.invalid;
    }
    const failure = failureOfError(error);
    io.err(formatFailure(failure, json));
    return EXIT[failure.kind];
  }
};
