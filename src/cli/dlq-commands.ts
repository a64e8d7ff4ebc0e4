import { Argument, type Command, Option } from "commander";
import type { DryRun, QueueDepth, QueueName, Redriven } from "./dlq.js";
import { resolveStack, type StackFlags, stackOptions } from "./stack-outputs.js";
import { printableJson, show } from "./terminal.js";

/**
 * fleetgate dlq list|redrive: the stack's dead-letter queues, found from its outputs
 * (CloudFormation DescribeStacks) and handled with the operator's own AWS credentials, not
 * through the operations API. The SDK is loaded by the command that runs (./dlq.ts).
 */
export interface DlqCommandIo {
  readonly out: (text: string) => void;
  /** Where progress of a redrive goes (stderr on a terminal); none when absent. */
  readonly progress?: (text: string) => void;
  /** The region from the AWS configuration: the environment, then the profile's config. */
  readonly awsRegion?: (profile: string | undefined) => Promise<string | undefined>;
}

const ages: readonly [number, string][] = [
  [86_400, "d"],
  [3_600, "h"],
  [60, "min"],
  [1, "s"],
];
/** 2 d 3 h, 5 h 10 min, 40 s. */
export const age = (seconds: number): string => {
  const parts: string[] = [];
  let left = seconds;
  for (const [size, unit] of ages) {
    if (left >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(left / size)} ${unit}`);
      left %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
};

export const readableDepths = (queues: readonly QueueDepth[]): string => {
  const rows = queues.map((queue) => [
    queue.queue,
    String(queue.messages),
    String(queue.inFlight),
    queue.oldestAgeSeconds === undefined ? "-" : `${age(queue.oldestAgeSeconds)} (${queue.oldestSentAt})`,
    show(queue.url),
  ]);
  const header = ["queue", "messages", "in flight", "oldest seen", "dead-letter queue"];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
};

const sampleLine = (queue: QueueName, sample: Record<string, unknown>): string => {
  const when = `sent ${show(sample.sentAt)}${sample.receives ? `, received ${show(sample.receives)} times` : ""}`;
  if (queue === "jitr")
    return `certificate ${show(sample.certificateId)}  CA ${show(sample.caCertificateId)}  ${when}`;
  if (queue === "recall")
    return `batch ${show(sample.batchId)} page ${show(sample.page)} (${show(sample.reason)})  ${when}`;
  const objects = Array.isArray(sample.objects) ? sample.objects.map(show).join(", ") : "-";
  return `${objects}  failed: ${show(sample.errorCode)} ${show(sample.error)}  ${when}`;
};

export const readableRedrive = (result: DryRun | Redriven): string => {
  if (result.dryRun) {
    const lines = [
      `${result.queue} dead-letter queue: ${result.messages} messages (dry run: nothing moved)`,
      result.queue === "ingest"
        ? `redrive invokes ${show(result.destination)} again with each (an upload registered before changes nothing)`
        : `redrive moves them back to ${show(result.destination)}`,
    ];
    if (result.sample.length > 0)
      lines.push(
        `${result.sample.length < result.messages ? `a sample of ${result.sample.length}` : "they are"}:`,
        ...result.sample.map((sample) => `  ${sampleLine(result.queue, sample)}`),
      );
    return lines.join("\n");
  }
  const how = {
    "message-move-task": "with a message move task",
    "receive-send-delete": "one by one (this endpoint has no message move task)",
    invoke: "each invoked again, asynchronously",
  }[result.method];
  const lines = [
    `${result.queue}: ${result.moved} messages ${result.method === "invoke" ? "handed back to" : "moved back to"} ${show(result.destination)}, ${how}`,
  ];
  if (result.task)
    lines.push(
      `move task ${show(result.task.status)}${result.task.failureReason ? `: ${show(result.task.failureReason)}` : ""}${result.task.status === "RUNNING" ? " (still moving: fleetgate dlq list shows what is left)" : ""}`,
    );
  for (const item of result.left ?? [])
    lines.push(`left in the queue: ${show(item.messageId)}: ${show(item.why)}`);
  return lines.join("\n");
};

export const addDlqCommands = (program: Command, io: DlqCommandIo): void => {
  const dlq = program
    .command("dlq")
    .description("the stack's dead-letter queues, with your own AWS credentials (not through the API)");

  const resolve = (flags: StackFlags) => resolveStack(flags, io.awsRegion);

  stackOptions(
    dlq
      .command("list")
      .description("the three dead-letter queues: how many messages, and how old the oldest seen"),
  ).action(async (flags: StackFlags) => {
    const { listDeadLetters } = await import("./dlq.js");
    const queues = await listDeadLetters(await resolve(flags));
    io.out(flags.json ? printableJson({ queues }) : readableDepths(queues));
  });

  stackOptions(
    dlq
      .command("redrive")
      .description(
        "send a dead-letter queue's messages back: jitr and recall to their queue, ingest to the ingest function",
      )
      .addArgument(new Argument("<queue>", "jitr, recall or ingest").choices(["jitr", "recall", "ingest"]))
      .addOption(new Option("--dry-run", "say how many messages and what they are, moving nothing")),
  ).action(async (queue: QueueName, flags: StackFlags & { dryRun?: boolean }) => {
    const { redrive } = await import("./dlq.js");
    const result = await redrive(
      await resolve(flags),
      queue,
      flags.dryRun === true,
      flags.json ? undefined : io.progress,
    );
    io.out(flags.json ? printableJson(result) : readableRedrive(result));
  });
};
