import type { Command } from "commander";
import type { ApiAnswer, ApiClient } from "./api-client.js";

/** The commands over the operations API (SigV4): answers as JSON (--json) or readable text. */
export interface DeviceCommandIo {
  readonly api: (options: { apiUrl: string; region: string }) => ApiClient;
  readonly out: (text: string) => void;
  readonly defaultApiUrl?: string;
  readonly defaultRegion: string;
  /** Called with the exit code a command wants. */
  readonly exit: (code: number) => void;
}

export interface CommonOptions {
  apiUrl?: string;
  region: string;
  json?: boolean;
}

export const API_EXIT = { ok: 0, failed: 1, invalid: 2, notFound: 4, conflict: 5 } as const;

const exitFor = (status: number): number => {
  if (status < 300) return API_EXIT.ok;
  if (status === 404) return API_EXIT.notFound;
  if (status === 409) return API_EXIT.conflict;
  if (status === 400 || status === 403) return API_EXIT.invalid;
  return API_EXIT.failed;
};

type Row = Record<string, unknown>;

// C0 and C1 controls and DEL (terminal escape sequences, line breaks that forge rows), the
// bidirectional marks and overrides that reorder what is shown, and the backslash, so an escape
// cannot be forged either.
const unprintable = (code: number): boolean =>
  code < 0x20 ||
  (code >= 0x7f && code <= 0x9f) ||
  code === 0x200e ||
  code === 0x200f ||
  (code >= 0x2028 && code <= 0x202e) ||
  (code >= 0x2066 && code <= 0x2069) ||
  code === 0x5c;

const SHORT_ESCAPES: Record<number, string> = { 9: "\\t", 10: "\\n", 13: "\\r", 92: "\\\\" };

/**
 * What devices and operators sent, as a terminal may show it: stored as sent, printed with every
 * character that a terminal would act on escaped (\x1b, \u202e). JSON output has JSON's escaping.
 */
export const printable = (text: string): string => {
  let shown = "";
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    if (!unprintable(code)) shown += character;
    else if (code in SHORT_ESCAPES) shown += SHORT_ESCAPES[code];
    else if (code <= 0xff) shown += `\\x${code.toString(16).padStart(2, "0")}`;
    else shown += `\\u${code.toString(16).padStart(4, "0")}`;
  }
  return shown;
};

/**
 * The API's JSON as the terminal gets it: JSON escapes C0 controls itself; DEL, C1 controls and
 * bidirectional marks (only ever inside strings) become \u escapes, and the JSON stays the same.
 */
const printableJson = (value: unknown): string => {
  let shown = "";
  for (const character of JSON.stringify(value, null, 2)) {
    const code = character.codePointAt(0) ?? 0;
    shown += code >= 0x7f && unprintable(code) ? `\\u${code.toString(16).padStart(4, "0")}` : character;
  }
  return shown;
};

/** One value of the readable output: absent as "-", anything else printable. */
const show = (value: unknown): string =>
  value === undefined || value === null
    ? "-"
    : printable(typeof value === "object" ? JSON.stringify(value) : String(value));

const table = (rows: readonly Row[], columns: readonly string[]): string => {
  const cell = (row: Row, column: string) =>
    show(column.split(".").reduce<unknown>((v, key) => (v as Row | undefined)?.[key], row));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line([...columns]), ...rows.map((r) => line(columns.map((c) => cell(r, c))))].join("\n");
};

const nextPage = (value: Row): string => (value.cursor ? `\nnext page: --cursor ${show(value.cursor)}` : "");

// Every value below comes from the API, so from devices and operators: each is shown through `show`.
const readable = (path: string, body: unknown): string => {
  const value = body as Row;
  if (Array.isArray(value.devices)) {
    return `${table(value.devices as Row[], ["deviceId", "state", "batchId", "model", "updatedAt"])}${nextPage(value)}`;
  }
  if (Array.isArray(value.events)) {
    return `${table(value.events as Row[], ["at", "type", "actor", "from", "to", "reason"])}${nextPage(value)}`;
  }
  if (Array.isArray(value.batches)) {
    return `${table(value.batches as Row[], ["batchId", "state", "counts.accepted", "counts.conflicts", "counts.invalid", "registeredAt", "recall.state"])}${nextPage(value)}`;
  }
  if (value.recall && value.batchId && !value.state) {
    const recall = value.recall as Row;
    return `batch ${show(value.batchId)}: recall ${show(recall.state)}, ${show(recall.pagesDone)} pages of 25 devices done`;
  }
  if (value.batchId && value.state) return readableBatch(value);
  if (value.batch)
    return readableBatch(value.batch as Row, value.issues as Row[] | undefined, value.replay === true);
  if (value.device) {
    const device = value.device as Row;
    // A device view has the certificate as IoT Core sees it; an action's answer only the bound one.
    const certificate = (value.certificate ?? device.certificate) as Row | undefined;
    const lines = [
      `device       ${show(device.deviceId)}`,
      `state        ${show(device.state)}`,
      `batch        ${show(device.batchId)}`,
      `certificate  ${certificate ? `${show(certificate.certificateId)} (${show(certificate.status ?? "bound")}, until ${show(certificate.notAfter)})` : "-"}`,
      `attributes   ${show(device.attributes ?? {})}`,
    ];
    if (value.connection) lines.push(`connection   ${show(value.connection)}`);
    if (Array.isArray(value.history))
      lines.push("", table(value.history as Row[], ["at", "type", "actor", "reason"]));
    return lines.join("\n");
  }
  return `${show(path)}: ${show(body)}`;
};

const readableBatch = (batch: Row, issues?: readonly Row[], replay = false): string => {
  const counts = (batch.counts ?? {}) as Row;
  const recall = batch.recall as Row | undefined;
  const lines = [
    `batch        ${show(batch.batchId)}${replay ? " (registered before: nothing changed)" : ""}`,
    `state        ${show(batch.state)}${batch.error ? `: ${show(batch.error)}` : ""}`,
    `rows         ${show(counts.rows)} (accepted ${show(counts.accepted ?? 0)}, duplicates ${show(counts.duplicates ?? 0)}, conflicts ${show(counts.conflicts ?? 0)}, invalid ${show(counts.invalid ?? 0)})`,
    `source       ${show(batch.source)} by ${show(batch.registeredBy)} at ${show(batch.registeredAt)}`,
    ...(Array.isArray(batch.warnings)
      ? batch.warnings.map((warning) => `warning      ${show(warning)}`)
      : []),
  ];
  if (recall) {
    const failures = Array.isArray(recall.failures) ? (recall.failures as Row[]) : [];
    lines.push(
      `recall       ${show(recall.state)}: ${show(recall.pagesDone)} pages of 25 devices done (${show(recall.reason)})${failures.length > 0 ? `, ${failures.length} devices not revoked` : ""}`,
    );
    if (failures.length > 0) lines.push("", table(failures, ["deviceId", "page", "reason"]));
  }
  const shown = issues ?? (batch.issues as Row[] | undefined) ?? [];
  if (shown.length > 0) lines.push("", table(shown, ["line", "kind", "deviceId", "message"]));
  return lines.join("\n");
};

const problemLine = (answer: ApiAnswer): string => {
  const body = answer.body as
    | { title?: string; detail?: string; errors?: string[]; message?: string }
    | undefined;
  const detail = body?.detail ?? body?.message ?? JSON.stringify(body);
  const errors = Array.isArray(body?.errors) ? body.errors.map((e) => `\n  ${show(e)}`).join("") : "";
  return `fleetgate: ${answer.status} ${show(body?.title ?? "")}: ${show(detail)}${errors}`;
};

/** The options every API command takes, and the one way they call the API and print the answer. */
export const apiCommandKit = (io: DeviceCommandIo, err: (text: string) => void) => {
  const common = (command: Command) =>
    command
      .option("--api-url <url>", "base URL of the operations API (or FLEETGATE_API_URL)", io.defaultApiUrl)
      .option("--region <region>", "region the API is signed for", io.defaultRegion)
      .option("--json", "print the API's JSON answer");

  /** Calls the API and prints its answer; `exitOf` may give a code the status alone cannot tell. */
  const call = async (
    options: CommonOptions,
    run: (api: ApiClient) => Promise<ApiAnswer>,
    path: string,
    exitOf?: (answer: ApiAnswer) => number | undefined,
  ) => {
    if (!options.apiUrl) {
      err("fleetgate: no API URL: give --api-url or set FLEETGATE_API_URL");
      io.exit(API_EXIT.invalid);
      return;
    }
    const answer = await run(io.api({ apiUrl: options.apiUrl, region: options.region }));
    if (answer.status >= 300) err(problemLine(answer));
    else io.out(options.json ? printableJson(answer.body) : readable(path, answer.body));
    io.exit(exitOf?.(answer) ?? exitFor(answer.status));
  };
  return { common, call };
};

export type ApiCommandKit = ReturnType<typeof apiCommandKit>;

export const addDeviceCommands = (program: Command, { common, call }: ApiCommandKit): void => {
  const device = program
    .command("device")
    .description("devices and their lifecycle, through the operations API");

  common(
    device.command("show").description("state, certificate, batch and recent history").argument("<deviceId>"),
  ).action((deviceId: string, options: CommonOptions) =>
    call(options, (api) => api("GET", `/devices/${encodeURIComponent(deviceId)}`), "show"),
  );
  common(
    device
      .command("list")
      .description("devices in a state or of a batch")
      .option("--state <state>", "ALLOWED, PROVISIONING, ACTIVE, SUSPENDED, REVOKED or DECOMMISSIONED")
      .option("--batch <batchId>", "devices of a batch")
      .option("--limit <n>", "page size")
      .option("--cursor <cursor>", "the next page's cursor"),
  ).action((options: CommonOptions & { state?: string; batch?: string; limit?: string; cursor?: string }) => {
    const query: Record<string, string> = {};
    if (options.state) query.state = options.state;
    if (options.batch) query.batchId = options.batch;
    if (options.limit) query.limit = options.limit;
    if (options.cursor) query.cursor = options.cursor;
    return call(options, (api) => api("GET", "/devices", { query }), "list");
  });
  common(
    device
      .command("events")
      .description("a device's full history, oldest first")
      .argument("<deviceId>")
      .option("--limit <n>", "page size")
      .option("--cursor <cursor>", "the next page's cursor"),
  ).action((deviceId: string, options: CommonOptions & { limit?: string; cursor?: string }) => {
    const query: Record<string, string> = {};
    if (options.limit) query.limit = options.limit;
    if (options.cursor) query.cursor = options.cursor;
    return call(
      options,
      (api) => api("GET", `/devices/${encodeURIComponent(deviceId)}/events`, { query }),
      "events",
    );
  });
  for (const action of ["revoke", "suspend", "reactivate", "decommission"] as const) {
    const command = device
      .command(action)
      .description(`${action} a device`)
      .argument("<deviceId>")
      .option("--reason <text>", action === "reactivate" ? "why (optional)" : "why (required)")
      .option("--idempotency-key <key>", "makes a retried command safe: the same key gets the first answer");
    common(command).action(
      (deviceId: string, options: CommonOptions & { reason?: string; idempotencyKey?: string }) =>
        call(
          options,
          (api) =>
            api("POST", `/devices/${encodeURIComponent(deviceId)}/${action}`, {
              body: options.reason ? { reason: options.reason } : {},
              ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
            }),
          action,
        ),
    );
  }
};
