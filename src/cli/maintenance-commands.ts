import type { Command } from "commander";
import type { ApiAnswer } from "./api-client.js";
import type { ApiCommandKit, CommonOptions } from "./api-commands.js";
import { show } from "./terminal.js";

/**
 * The reconciler on demand (POST /reconcile) and the expiry watch (GET /certificates/expiring):
 * each API call is bounded (the API has 15 s), so the command calls again with the cursor until
 * the pass is done, and prints the whole report.
 */
type Row = Record<string, unknown>;

// A pass that never ends would be the API's fault; stop rather than loop for ever.
const MAX_CALLS = 100_000;

/** Calls page by page, gathering the arrays named `lists`; the first failure is the answer. */
const everyPage = async (
  call: (cursor: string | undefined) => Promise<ApiAnswer>,
  lists: readonly string[],
  progress?: (text: string) => void,
): Promise<ApiAnswer> => {
  const gathered: Row = Object.fromEntries(lists.map((name) => [name, []]));
  let examined = 0;
  let cursor: string | undefined;
  let first: Row | undefined;
  for (let calls = 0; calls < MAX_CALLS; calls += 1) {
    const answer = await call(cursor);
    if (answer.status >= 300) return answer;
    const body = answer.body as Row;
    first ??= body;
    for (const name of lists) (gathered[name] as unknown[]).push(...((body[name] as unknown[]) ?? []));
    examined += Number(body.examined ?? 0);
    cursor = typeof body.cursor === "string" ? body.cursor : undefined;
    if (!cursor) break;
    progress?.(`examined ${examined} so far`);
  }
  const { cursor: _last, ...rest } = first ?? {};
  return { status: 200, body: { ...rest, ...gathered, examined } };
};

export const readableReconcile =
  (repairAsked: boolean) =>
  (body: unknown): string => {
    const value = body as Row;
    const drifts = (value.drifts as Row[] | undefined) ?? [];
    const unchecked = (value.unchecked as Row[] | undefined) ?? [];
    const lines: string[] = [];
    for (const drift of drifts) {
      const state = drift.state === undefined ? "no record" : show(drift.state);
      const certificate =
        drift.certificateId === undefined ? "" : `  certificate ${show(drift.certificateId)}`;
      lines.push(
        `${drift.security ? "SECURITY " : ""}${show(drift.kind)}  ${show(drift.deviceId)} (${state})${certificate}`,
        `  found     ${show(drift.detail)}`,
        `  proposed  ${show(drift.action)}`,
      );
      const repair = drift.repair as Row | undefined;
      if (repair) lines.push(`  repair    ${show(repair.outcome)}: ${show(repair.detail)}`);
    }
    for (const item of unchecked)
      lines.push(`NOT CHECKED  ${show(item.deviceId)}: ${show(item.why)} (a read failed: nothing decided)`);
    const security = drifts.filter((drift) => drift.security).length;
    const repaired = drifts.filter(
      (drift) => (drift.repair as Row | undefined)?.outcome === "REVOKED",
    ).length;
    const repairable = drifts.filter((drift) => drift.repairable && !drift.repair).length;
    lines.push(
      drifts.length === 0
        ? `no drift: ${show(value.examined)} records and Things examined${unchecked.length ? `, ${unchecked.length} not checked` : ""}`
        : `${drifts.length} drifts (${security} security) in ${show(value.examined)} records and Things examined${repairAsked ? `, ${repaired} repaired` : ""}${unchecked.length ? `, ${unchecked.length} not checked` : ""}`,
    );
    if (!repairAsked && repairable > 0)
      lines.push(
        `fleetgate reconcile --repair revokes the ${repairable} ACTIVE certificates of revoked devices`,
      );
    return lines.join("\n");
  };

const rows = (items: readonly Row[], columns: readonly string[]): string[] => {
  const cells = items.map((item) => columns.map((column) => show(item[column])));
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...cells.map((row) => row[i]?.length ?? 0)),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(columns), ...cells.map(line)];
};

export const readableExpiring = (body: unknown): string => {
  const value = body as Row;
  const devices = (value.devices as Row[] | undefined) ?? [];
  const cas = (value.cas as Row[] | undefined) ?? [];
  const lines = [
    `device certificates expiring within ${show(value.deviceDays)} days (or expired): ${devices.length} of ${show(value.examined)} devices that may connect`,
  ];
  if (devices.length > 0)
    lines.push(...rows(devices, ["deviceId", "state", "notAfter", "daysLeft", "certificateId"]));
  lines.push(`CA certificates expiring within ${show(value.caDays)} days (or expired): ${cas.length}`);
  if (cas.length > 0) lines.push(...rows(cas, ["caCertificateId", "status", "notAfter", "daysLeft"]));
  return lines.join("\n");
};

export const addMaintenanceCommands = (
  program: Command,
  { common, call }: ApiCommandKit,
  progress?: (text: string) => void,
): void => {
  common(
    program
      .command("reconcile")
      .description(
        "compare IoT Core with the lifecycle table and report each drift with the action proposed; --repair revokes the ACTIVE certificates of revoked and decommissioned devices",
      )
      .option("--repair", "repair what is safe to repair (and only that)")
      .option("--device <deviceId>", "check this one device (or Thing) only")
      .option("--limit <n>", "records and Things per API call (1-200)", "50"),
  ).action((options: CommonOptions & { repair?: boolean; device?: string; limit: string }) => {
    const repair = options.repair === true;
    const limit = Number(options.limit);
    return call(
      options,
      (api) =>
        options.device
          ? api("POST", "/reconcile", { body: { deviceId: options.device, repair } })
          : everyPage(
              (cursor) =>
                api("POST", "/reconcile", {
                  body: {
                    limit: Number.isInteger(limit) ? limit : options.limit,
                    repair,
                    ...(cursor ? { cursor } : {}),
                  },
                }),
              ["drifts", "unchecked"],
              options.json ? undefined : progress,
            ),
      "reconcile",
      undefined,
      { readable: readableReconcile(repair) },
    );
  });

  common(
    program
      .command("expiring")
      .description("device and CA certificates expiring soon (or expired), to plan their rotation")
      .option("--days <n>", "horizon for device certificates, in days", "30")
      .option("--ca-days <n>", "horizon for CA certificates, in days", "90"),
  ).action((options: CommonOptions & { days: string; caDays: string }) =>
    call(
      options,
      async (api) => {
        const answer = await everyPage(
          (cursor) =>
            api("GET", "/certificates/expiring", {
              query: { days: options.days, caDays: options.caDays, ...(cursor ? { cursor } : {}) },
            }),
          ["devices", "cas"],
          options.json ? undefined : progress,
        );
        // Each page is soonest first; the whole list is too.
        if (answer.status < 300) ((answer.body as Row).devices as Row[]).sort(byNotAfter);
        return answer;
      },
      "expiring",
      undefined,
      { readable: readableExpiring },
    ),
  );
};

const byNotAfter = (a: Row, b: Row) => String(a.notAfter).localeCompare(String(b.notAfter));
