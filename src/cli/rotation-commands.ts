import { type Command, InvalidArgumentError } from "commander";
import type { ApiCommandKit, CommonOptions } from "./api-commands.js";
import { show } from "./terminal.js";

/**
 * Certificate rotation asked for by an operator (README "Rotation"): one device
 * (`device rotate`), or a campaign over a batch or over the certificates expiring soon, with its
 * progress device by device.
 */
type Row = Record<string, unknown>;

interface WindowOptions {
  commitWithin?: number;
  grace?: number;
  reason?: string;
}

const seconds = (value: string): number => {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new InvalidArgumentError("must be whole seconds");
  return number;
};

const windowOptions = (command: Command) =>
  command
    .option(
      "--commit-within <seconds>",
      "the device's window to commit over its new certificate (at most the deployment's)",
      seconds,
    )
    .option(
      "--grace <seconds>",
      "how long the replaced certificate stays INACTIVE before it is revoked (at most the deployment's)",
      seconds,
    )
    .option("--reason <text>", "why (recorded in each device's history)");

const windowBody = (options: WindowOptions) => ({
  ...(options.reason ? { reason: options.reason } : {}),
  ...(options.commitWithin !== undefined ? { commitWithinSeconds: options.commitWithin } : {}),
  ...(options.grace !== undefined ? { graceSeconds: options.grace } : {}),
});

const readableRotation = (body: unknown): string => {
  const value = body as Row;
  const rotation = (value.rotation ?? {}) as Row;
  const windows = (rotation.windows ?? {}) as Row;
  return [
    `device       ${show((value.device as Row | undefined)?.deviceId)}`,
    `rotation     ${show(rotation.rotationId)} ${show(rotation.state)}, told through job ${show(rotation.jobId)}`,
    `windows      commit within ${show(windows.commitWithinSeconds)} s, grace ${show(windows.graceSeconds)} s`,
  ].join("\n");
};

const readableCampaign = (body: unknown): string => {
  const value = body as Row;
  const campaign = (value.campaign ?? {}) as Row;
  const selector = (campaign.selector ?? {}) as Row;
  const lines = [
    `campaign     ${show(campaign.campaignId)}${value.state ? ` ${show(value.state)}` : ""}`,
    `devices      ${selector.batchId !== undefined ? `of batch ${show(selector.batchId)}` : `expiring within ${show(selector.expiringWithinDays)} days`}`,
    `progress     ${show(campaign.pagesDone)} pages: ${show(campaign.requested)} devices asked, ${show(campaign.skipped)} skipped; ${show(campaign.perMinute)} a minute`,
  ];
  const devices = (value.devices as Row[] | undefined) ?? [];
  if (devices.length > 0) {
    const columns = ["deviceId", "page", "rotation", "certificateId", "at"];
    const widths = columns.map((c) => Math.max(c.length, ...devices.map((d) => show(d[c]).length)));
    const line = (cells: string[]) =>
      cells
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd();
    lines.push("", line(columns), ...devices.map((d) => line(columns.map((c) => show(d[c])))));
  }
  if (value.cursor) lines.push(`next pages: --cursor ${show(value.cursor)}`);
  return lines.join("\n");
};

export const addRotationCommands = (program: Command, { common, call }: ApiCommandKit): void => {
  const device = program.commands.find((command) => command.name() === "device");
  if (!device) throw new Error("the device command comes first");
  common(
    windowOptions(
      device
        .command("rotate")
        .description(
          "ask a device to rotate its certificate (told through an IoT job; it commits over the new one)",
        )
        .argument("<deviceId>"),
    ),
  ).action((deviceId: string, options: CommonOptions & WindowOptions) =>
    call(
      options,
      (api) => api("POST", `/devices/${encodeURIComponent(deviceId)}/rotate`, { body: windowBody(options) }),
      "rotate",
      undefined,
      { readable: readableRotation },
    ),
  );

  const rotation = program.command("rotation").description("certificate rotation campaigns");
  common(
    windowOptions(
      rotation
        .command("campaign")
        .description(
          "ask every ACTIVE device of a batch, or whose certificate expires soon, to rotate, paced within the IoT budget",
        )
        .option("--batch <batchId>", "the devices of a batch")
        .option(
          "--expiring-within <days>",
          "the devices whose certificate expires within so many days",
          seconds,
        ),
    ),
  ).action((options: CommonOptions & WindowOptions & { batch?: string; expiringWithin?: number }) =>
    call(
      options,
      (api) =>
        api("POST", "/rotations", {
          body: {
            ...(options.batch !== undefined ? { batchId: options.batch } : {}),
            ...(options.expiringWithin !== undefined ? { expiringWithinDays: options.expiringWithin } : {}),
            ...windowBody(options),
          },
        }),
      "campaign",
      undefined,
      { readable: readableCampaign },
    ),
  );
  common(
    rotation
      .command("status")
      .description("a campaign's progress, and each asked device's rotation now")
      .argument("<campaignId>")
      .option("--limit <pages>", "pages of up to 100 devices (1-10)")
      .option("--cursor <cursor>", "the next pages' cursor"),
  ).action((campaignId: string, options: CommonOptions & { limit?: string; cursor?: string }) => {
    const query: Record<string, string> = {};
    if (options.limit) query.limit = options.limit;
    if (options.cursor) query.cursor = options.cursor;
    return call(
      options,
      (api) => api("GET", `/rotations/${encodeURIComponent(campaignId)}`, { query }),
      "rotation status",
      undefined,
      { readable: readableCampaign },
    );
  });
};
