import type { Command } from "commander";
import type { ApiAnswer, ApiClient } from "./api-client.js";
import { EXIT, type ExitName, failureOfAnswer, kindOfStatus } from "./failures.js";
import { formatFailure, printable, printableJson, show } from "./terminal.js";

/** The commands over the operations API (SigV4): answers as JSON (--json) or readable text. */
export interface DeviceCommandIo {
  readonly api: (options: { apiUrl: string; region: string; profile?: string }) => ApiClient;
  readonly out: (text: string) => void;
  readonly defaultApiUrl?: string;
  /** The region from the AWS configuration: the environment, then the profile's config. */
  readonly awsRegion?: (profile: string | undefined) => Promise<string | undefined>;
  /** The region when neither --region nor the AWS configuration names one. */
  readonly defaultRegion?: string;
  /** Called with the exit code a command wants. */
  readonly exit: (code: number) => void;
}

export interface CommonOptions {
  apiUrl?: string;
  region?: string;
  profile?: string;
  json?: boolean;
}

type Row = Record<string, unknown>;

/** Rows under a header; no rows is said in words (`none`), never a bare header. */
export const table = (rows: readonly Row[], columns: readonly string[], none = ""): string => {
  if (rows.length === 0) return none;
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
    return `${table(value.devices as Row[], ["deviceId", "state", "batchId", "model", "updatedAt"], "no devices")}${nextPage(value)}`;
  }
  if (Array.isArray(value.events)) {
    return `${table(value.events as Row[], ["at", "type", "actor", "from", "to", "reason"], "no events")}${nextPage(value)}`;
  }
  if (Array.isArray(value.batches)) {
    return `${table(value.batches as Row[], ["batchId", "state", "counts.accepted", "counts.conflicts", "counts.invalid", "registeredAt", "recall.state"], "no batches")}${nextPage(value)}`;
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
    const rotation = device.rotation as Row | undefined;
    const other = value.rotationCertificate as Row | undefined;
    if (rotation)
      lines.push(
        `rotation     ${show(rotation.state)} (${show(rotation.rotationId)}, asked by ${show(rotation.requestedBy)})${
          rotation.commitBy && rotation.state === "ISSUED" ? `, commit by ${show(rotation.commitBy)}` : ""
        }${rotation.revokeAt && rotation.state === "COMMITTED" ? `, replaced one revoked at ${show(rotation.revokeAt)}` : ""}`,
      );
    if (other)
      lines.push(
        `${other.role === "new" ? "new cert    " : "replaced    "} ${show(other.certificateId)} (${show(other.status)})`,
      );
    if (value.connection) lines.push(`connection   ${show(value.connection)}`);
    if (Array.isArray(value.history) && value.history.length > 0)
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

/** An API Gateway URL names its region (`<id>.execute-api.<region>.amazonaws.com`). */
export const regionOfApiUrl = (apiUrl: string): string | undefined => {
  const host = URL.canParse(apiUrl) ? new URL(apiUrl).hostname : "";
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(host)?.[1];
};

/** The options every API command takes, and the one way they call the API and print the answer. */
export const apiCommandKit = (io: DeviceCommandIo, err: (text: string) => void) => {
  const common = (command: Command) =>
    command
      .option("--api-url <url>", "base URL of the operations API (or FLEETGATE_API_URL)", io.defaultApiUrl)
      .option(
        "--region <region>",
        "region the API is signed for (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, the API URL's)",
      )
      .option(
        "--profile <name>",
        "AWS profile whose credentials sign the calls (default: AWS_PROFILE, the chain)",
      )
      .option("--json", "print the API's JSON answer (and errors as JSON on stderr)");

  /** --region, else the AWS configuration, else the API URL's region; bad input when none says. */
  const regionFor = async (options: CommonOptions, apiUrl: string): Promise<string | undefined> =>
    options.region ?? (await io.awsRegion?.(options.profile)) ?? io.defaultRegion ?? regionOfApiUrl(apiUrl);

  /**
   * Calls the API and prints its answer; `kindOf` may tell what the status alone cannot, and
   * `present` how a command shows its answer and what it suggests when it fails.
   */
  const call = async (
    options: CommonOptions,
    run: (api: ApiClient) => Promise<ApiAnswer>,
    path: string,
    kindOf?: (answer: ApiAnswer) => ExitName | undefined,
    present?: Presentation,
  ) => {
    const json = options.json === true;
    const refuse = (message: string) => {
      err(formatFailure({ kind: "invalid", message }, json));
      io.exit(EXIT.invalid);
    };
    if (!options.apiUrl) return refuse("no API URL: give --api-url or set FLEETGATE_API_URL");
    if (!URL.canParse(options.apiUrl)) return refuse(`--api-url ${options.apiUrl} is not a URL`);
    const region = await regionFor(options, options.apiUrl);
    if (!region)
      return refuse("no region: give --region, set AWS_REGION, or set region in the profile's config");
    const api = io.api({
      apiUrl: options.apiUrl,
      region,
      ...(options.profile ? { profile: options.profile } : {}),
    });
    const answer = await run(api);
    const kind = kindOf?.(answer) ?? kindOfStatus(answer.status);
    if (answer.status >= 300) {
      const failure = failureOfAnswer({ url: options.apiUrl, ...answer }, kind);
      const hint = present?.hint?.(answer);
      err(formatFailure(hint ? { ...failure, hint } : failure, json));
    } else
      io.out(
        json
          ? printableJson(answer.body)
          : (present?.readable ?? ((body: unknown) => readable(path, body)))(answer.body),
      );
    io.exit(EXIT[kind]);
  };
  return { common, call };
};

export type ApiCommandKit = ReturnType<typeof apiCommandKit>;

/** How a command shows its answer (readable, not --json) and what it suggests when the API refuses. */
export interface Presentation {
  readonly readable?: (body: unknown) => string;
  readonly hint?: (answer: ApiAnswer) => string | undefined;
}

export const addDeviceCommands = (program: Command, { common, call }: ApiCommandKit): void => {
  const device = program
    .command("device")
    .description("devices and their lifecycle, through the operations API");

  common(
    device.command("show").description("state, certificate, batch and recent history").argument("<deviceId>"),
  ).action((deviceId: string, options: CommonOptions) =>
    call(options, (api) => api("GET", `/devices/${encodeURIComponent(deviceId)}`), "show", undefined, {
      // No entry: the device is on no batch, but the certificates that tried to be it are known.
      hint: (answer) =>
        answer.status === 404
          ? `${printable(deviceId)} is not on the allowlist: fleetgate device why ${printable(deviceId)} tells what became of the certificates that tried to be it`
          : undefined,
    }),
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
