import { type Command, InvalidArgumentError, Option } from "commander";
import { type ApiCommandKit, type CommonOptions, table } from "./api-commands.js";
import { EXIT } from "./failures.js";
import { resolveStack, type StackFlags, stackOptions } from "./stack-outputs.js";
import { printableJson, show } from "./terminal.js";

/**
 * Planned re-provisioning and clean retirement: `device expect-cert` approves a replacement
 * certificate through the operations API; `cert retire` runs the deployment's retirement job now,
 * with the operator's own credentials (it alone may delete certificates).
 */
export interface RetirementCommandIo {
  readonly out: (text: string) => void;
  /** The region from the AWS configuration: the environment, then the profile's config. */
  readonly awsRegion?: (profile: string | undefined) => Promise<string | undefined>;
  readonly exit: (code: number) => void;
}

type Row = Record<string, unknown>;

const readableApproval = (body: unknown): string => {
  const approval = ((body as Row).approval ?? {}) as Row;
  return [
    `device       ${show(approval.deviceId)}`,
    `expects      certificate ${show(approval.certificateSha256)}`,
    `replacing    ${show(approval.replaces)}`,
    `until        ${show(approval.expiresAt)} (approved by ${show(approval.approvedBy)} at ${show(approval.approvedAt)})`,
  ].join("\n");
};

/** One line of counts, then a row per certificate looked at. */
export const readableRetirement = (body: unknown): string => {
  const run = body as Row;
  const counts = (run.counts ?? {}) as Row;
  const items = Array.isArray(run.items) ? (run.items as Row[]) : [];
  const summary = run.dryRun
    ? `dry run: ${show(counts.WOULD_RETIRE ?? 0)} would be retired, ${show(counts.LEFT ?? 0)} left; nothing changed`
    : `${show(counts.RETIRED ?? 0)} retired, ${show(counts.DETACHED ?? 0)} detached (deleted on a later run), ${show(counts.LEFT ?? 0)} left, ${show(counts.UNCHECKED ?? 0)} not checked; ${show(run.approvalsExpired ?? 0)} approvals expired`;
  return [
    `certificates unusable since before ${show(run.before)}: ${show(run.examined)} looked at (${show(run.pass)})`,
    summary,
    ...(items.length > 0
      ? ["", table(items, ["certificateId", "deviceId", "why", "since", "outcome", "status", "detail"])]
      : []),
  ].join("\n");
};

const wholeNumber = (name: string, max: number) => (value: string) => {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number > max)
    throw new InvalidArgumentError(`${name} must be a whole number up to ${max}`);
  return number;
};

export const addReplacementCommands = (
  program: Command,
  { common, call }: ApiCommandKit,
  io: RetirementCommandIo,
): void => {
  const device = program.commands.find((command) => command.name() === "device");
  const certificate = program.commands.find((command) => command.name() === "cert");
  if (!device || !certificate) throw new Error("the device and cert commands come first");

  common(
    device
      .command("expect-cert")
      .description(
        "approve in advance the one certificate that replaces an ACTIVE device's (a replaced secure element, a refurbished unit): its first connection provisions it and retires the old one",
      )
      .argument("<deviceId>")
      .requiredOption("--sha256 <fingerprint>", "the new certificate's SHA-256 (hex, colons allowed)")
      .option(
        "--expires-in <duration>",
        "how long the approval lives: <hours>h or <days>d (default: the deployment's)",
      )
      .option("--reason <text>", "why (recorded in the device's history)"),
  ).action(
    (deviceId: string, options: CommonOptions & { sha256: string; expiresIn?: string; reason?: string }) =>
      call(
        options,
        (api) =>
          api("POST", `/devices/${encodeURIComponent(deviceId)}/expect-cert`, {
            body: {
              certificateSha256: options.sha256,
              ...(options.expiresIn ? { expiresIn: options.expiresIn } : {}),
              ...(options.reason ? { reason: options.reason } : {}),
            },
          }),
        "expect-cert",
        undefined,
        { readable: readableApproval },
      ),
  );

  stackOptions(
    certificate
      .command("retire")
      .description(
        "run the retirement job now (with your AWS credentials): delete from IoT Core the replaced, revoked and refused certificates whose retention has passed",
      )
      .addOption(new Option("--dry-run", "say what would be retired and what is left, changing nothing"))
      .addOption(
        new Option(
          "--retention-days <days>",
          "another retention for this run (default: the deployment's)",
        ).argParser(wholeNumber("--retention-days", 3650)),
      )
      .option("--ca <caCertificateId>", "only the certificates of this CA")
      .addOption(
        new Option("--limit <n>", "certificates to look at at most").argParser(
          wholeNumber("--limit", 100_000),
        ),
      ),
  ).action(
    async (flags: StackFlags & { dryRun?: boolean; retentionDays?: number; ca?: string; limit?: number }) => {
      const { runRetirement } = await import("./retirement.js");
      const run = (await runRetirement(await resolveStack(flags, io.awsRegion), {
        dryRun: flags.dryRun === true,
        ...(flags.retentionDays !== undefined ? { retentionDays: flags.retentionDays } : {}),
        ...(flags.ca ? { caCertificateId: flags.ca.toLowerCase() } : {}),
        ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
      })) as Row;
      io.out(flags.json ? printableJson(run) : readableRetirement(run));
      // A certificate a call failed for stays queued: the run did not finish its work.
      const unchecked = Number((run.counts as Row | undefined)?.UNCHECKED ?? 0);
      io.exit(unchecked > 0 ? EXIT.partial : EXIT.ok);
    },
  );
};
