import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import { CliError } from "./failures.js";
import { clientConfig, readStackOutputs, type StackOptions } from "./stack-outputs.js";

/**
 * The stack's three dead-letter queues, with the operator's own AWS credentials: how deep each is,
 * what is in it, and sending it back. Loaded only by the `dlq` commands (the SDK clients are large).
 *
 * - jitr, recall: back to their source queue with SQS's message move task (StartMessageMoveTask),
 *   which keeps each message as it is; where the endpoint has no such task, received, sent to the
 *   source queue and only then deleted, one by one.
 * - ingest: its dead-letter queue has no source queue: it keeps the S3 events of uploads whose
 *   ingest failed after Lambda's retries (Lambda's on-failure destination). Redriving one invokes
 *   the ingest function again with that event, asynchronously as S3 did; an ingest is safe to run
 *   again (a manifest registered before changes nothing), and one that fails again comes back here.
 */
export const QUEUES = ["jitr", "recall", "ingest"] as const;
export type QueueName = (typeof QUEUES)[number];

interface DeadLetters {
  readonly name: QueueName;
  readonly url: string;
  /** Where its messages go back to: a queue URL, or (ingest) the function to invoke. */
  readonly source: { readonly queueUrl: string } | { readonly functionName: string };
}

// The stack's outputs that name them (serverless.yml, Outputs).
const OUTPUTS: Record<QueueName, { readonly dlq: string; readonly source: string }> = {
  jitr: { dlq: "JitrDeadLetterQueueUrl", source: "JitrQueueUrl" },
  recall: { dlq: "RecallDeadLetterQueueUrl", source: "RecallQueueUrl" },
  ingest: { dlq: "IngestManifestDeadLetterQueueUrl", source: "IngestManifestFunctionName" },
};

const clientsFor = (options: StackOptions) => {
  const config = clientConfig(options);
  return { sqs: new SQSClient(config), lambda: new LambdaClient(config) };
};
type Clients = ReturnType<typeof clientsFor>;

const stackQueues = async (options: StackOptions): Promise<DeadLetters[]> => {
  const outputs = await readStackOutputs(
    options,
    QUEUES.flatMap((name) => [OUTPUTS[name].dlq, OUTPUTS[name].source]),
  );
  return QUEUES.map((name) => {
    const { dlq, source } = OUTPUTS[name];
    // readStackOutputs answered every name asked for, or threw.
    const url = outputs[dlq] as string;
    const target = outputs[source] as string;
    return { name, url, source: name === "ingest" ? { functionName: target } : { queueUrl: target } };
  });
};

/** Up to ten messages, left visible (a peek): what the queue holds, and how old. */
const peek = async (clients: Clients, url: string): Promise<Message[]> =>
  (
    await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["SentTimestamp", "ApproximateReceiveCount"],
        MessageAttributeNames: ["All"],
      }),
    )
  ).Messages ?? [];

const depthOf = async (clients: Clients, url: string) => {
  const out = await clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  const attributes = out.Attributes ?? {};
  return {
    arn: attributes.QueueArn ?? "",
    messages: Number(attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
};

export interface QueueDepth {
  readonly queue: QueueName;
  readonly url: string;
  readonly messages: number;
  readonly inFlight: number;
  /** When the oldest message seen (of up to ten looked at) was first sent, and its age. */
  readonly oldestSentAt?: string;
  readonly oldestAgeSeconds?: number;
}

export const listDeadLetters = async (options: StackOptions, now = Date.now()): Promise<QueueDepth[]> => {
  const clients = clientsFor(options);
  const queues = await stackQueues(options);
  return Promise.all(
    queues.map(async ({ name, url }) => {
      const depth = await depthOf(clients, url);
      const sent = depth.messages > 0 ? (await peek(clients, url)).map(sentAt).filter(isNumber) : [];
      const oldest = sent.length > 0 ? Math.min(...sent) : undefined;
      return {
        queue: name,
        url,
        messages: depth.messages,
        inFlight: depth.inFlight,
        ...(oldest === undefined
          ? {}
          : {
              oldestSentAt: new Date(oldest).toISOString(),
              oldestAgeSeconds: Math.max(0, Math.round((now - oldest) / 1000)),
            }),
      };
    }),
  );
};

const sentAt = (message: Message): number | undefined => {
  const value = Number(message.Attributes?.SentTimestamp);
  return Number.isFinite(value) && value > 0 ? value : undefined;
};
const isNumber = (value: number | undefined): value is number => value !== undefined;

/** What a message is, in an operator's words: the certificate, the recall page, the upload. */
export type Sample = Record<string, unknown>;

const describeMessage = (queue: QueueName, message: Message): Sample => {
  const common = {
    sentAt: sentAt(message) === undefined ? undefined : new Date(sentAt(message) as number).toISOString(),
    receives: Number(message.Attributes?.ApproximateReceiveCount ?? 0) || undefined,
  };
  const body = parseJson(message.Body);
  if (queue === "jitr")
    return { certificateId: body?.certificateId, caCertificateId: body?.caCertificateId, ...common };
  if (queue === "recall")
    return { batchId: body?.batchId, page: body?.page, reason: body?.reason, ...common };
  const records = Array.isArray(body?.Records)
    ? (body.Records as Record<string, Record<string, unknown>>[])
    : [];
  const objects = records.map((record) => {
    const s3 = record.s3 as { bucket?: { name?: string }; object?: { key?: string; versionId?: string } };
    return `s3://${s3?.bucket?.name}/${s3?.object?.key}${s3?.object?.versionId ? ` (version ${s3.object.versionId})` : ""}`;
  });
  return {
    objects,
    error: message.MessageAttributes?.ErrorMessage?.StringValue,
    errorCode: message.MessageAttributes?.ErrorCode?.StringValue,
    ...common,
  };
};

const parseJson = (text: string | undefined): Record<string, unknown> | undefined => {
  try {
    const value = JSON.parse(text ?? "");
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
};

export interface DryRun {
  readonly queue: QueueName;
  readonly dryRun: true;
  readonly messages: number;
  /** Where they would go: the source queue, or the function invoked again. */
  readonly destination: string;
  /** Up to ten of them. */
  readonly sample: readonly Sample[];
}

export interface Redriven {
  readonly queue: QueueName;
  readonly dryRun: false;
  readonly destination: string;
  /** How: SQS's move task, one by one where the endpoint has none, or invoking the ingest again. */
  readonly method: "message-move-task" | "receive-send-delete" | "invoke";
  readonly moved: number;
  /** The move task, and how it ended (RUNNING when it was still going after the wait). */
  readonly task?: { readonly handle: string; readonly status: string; readonly failureReason?: string };
  /** Messages left where they were, and why (a body that is not an event). */
  readonly left?: readonly { readonly messageId: string; readonly why: string }[];
}

const destinationOf = (queue: DeadLetters): string =>
  "queueUrl" in queue.source ? queue.source.queueUrl : `function ${queue.source.functionName}`;

export const redrive = async (
  options: StackOptions,
  name: QueueName,
  dryRun: boolean,
  progress?: (text: string) => void,
): Promise<DryRun | Redriven> => {
  const clients = clientsFor(options);
  const queue = (await stackQueues(options)).find((candidate) => candidate.name === name);
  if (!queue) throw new CliError({ kind: "invalid", message: `no dead-letter queue ${name}` });
  const destination = destinationOf(queue);
  if (dryRun) {
    const depth = await depthOf(clients, queue.url);
    const sample = depth.messages > 0 ? await peek(clients, queue.url) : [];
    return {
      queue: name,
      dryRun: true,
      messages: depth.messages,
      destination,
      sample: sample.map((message) => describeMessage(name, message)),
    };
  }
  if ("functionName" in queue.source) return invokeAgain(clients, queue, queue.source.functionName, progress);
  return moveBack(clients, queue, queue.source.queueUrl, progress);
};

// How long the command watches a move task before it leaves it running.
const MOVE_WAIT_MS = 60_000;
// Endpoints without message move tasks (emulators) answer with one of these.
const NO_MOVE_TASK = new Set(["InvalidAction", "UnsupportedOperation", "UnknownOperationException"]);

const moveBack = async (
  clients: Clients,
  queue: DeadLetters,
  sourceUrl: string,
  progress?: (text: string) => void,
): Promise<Redriven> => {
  const [dead, source] = await Promise.all([depthOf(clients, queue.url), depthOf(clients, sourceUrl)]);
  let handle: string | undefined;
  try {
    handle = (
      await clients.sqs.send(
        new StartMessageMoveTaskCommand({ SourceArn: dead.arn, DestinationArn: source.arn }),
      )
    ).TaskHandle;
  } catch (error) {
    if (!NO_MOVE_TASK.has((error as Error).name)) throw error;
    progress?.("this endpoint has no message move task: moving the messages one by one");
    return { ...(await moveOneByOne(clients, queue, sourceUrl)), destination: sourceUrl };
  }
  const started = Date.now();
  for (;;) {
    const task = (
      await clients.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dead.arn, MaxResults: 1 }))
    ).Results?.[0];
    const status = task?.Status ?? "RUNNING";
    const moved = task?.ApproximateNumberOfMessagesMoved ?? 0;
    if (status !== "RUNNING" || Date.now() - started >= MOVE_WAIT_MS)
      return {
        queue: queue.name,
        dryRun: false,
        destination: sourceUrl,
        method: "message-move-task",
        moved,
        task: {
          handle: handle ?? task?.TaskHandle ?? "",
          status,
          ...(task?.FailureReason ? { failureReason: task.FailureReason } : {}),
        },
      };
    progress?.(`moving: ${moved} of about ${task?.ApproximateNumberOfMessagesToMove ?? dead.messages} moved`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
};

/** Receives a few, hands each on, and deletes it only once handed on: never lost, at worst sent twice. */
const drain = async (
  clients: Clients,
  url: string,
  handOn: (message: Message) => Promise<string | undefined>,
): Promise<{ moved: number; left: { messageId: string; why: string }[] }> => {
  let moved = 0;
  const left: { messageId: string; why: string }[] = [];
  const seen = new Set<string>();
  for (;;) {
    const messages =
      (
        await clients.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: 10,
            // Long enough to hand them on; a message left behind is visible again after it.
            VisibilityTimeout: 60,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
        )
      ).Messages ?? [];
    const fresh = messages.filter((message) => !seen.has(message.MessageId ?? ""));
    if (fresh.length === 0) return { moved, left };
    for (const message of fresh) {
      seen.add(message.MessageId ?? "");
      const refused = await handOn(message);
      if (refused) {
        left.push({ messageId: message.MessageId ?? "", why: refused });
        continue;
      }
      await clients.sqs.send(
        new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }),
      );
      moved += 1;
    }
  }
};

const moveOneByOne = async (clients: Clients, queue: DeadLetters, sourceUrl: string) => {
  const { moved, left } = await drain(clients, queue.url, async (message) => {
    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: sourceUrl,
        MessageBody: message.Body ?? "",
        ...(message.MessageAttributes && Object.keys(message.MessageAttributes).length > 0
          ? { MessageAttributes: message.MessageAttributes }
          : {}),
      }),
    );
    return undefined;
  });
  return {
    queue: queue.name,
    dryRun: false as const,
    method: "receive-send-delete" as const,
    moved,
    ...(left.length > 0 ? { left } : {}),
  };
};

const invokeAgain = async (
  clients: Clients,
  queue: DeadLetters,
  functionName: string,
  progress?: (text: string) => void,
): Promise<Redriven> => {
  const { moved, left } = await drain(clients, queue.url, async (message) => {
    const event = parseJson(message.Body);
    if (!Array.isArray(event?.Records)) return "not an S3 event";
    // The S3 records alone: an ingest that went on over its runs' limit starts counting again.
    const out = await clients.lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: "Event",
        Payload: new TextEncoder().encode(JSON.stringify({ Records: event.Records })),
      }),
    );
    if (out.StatusCode !== 202) return `Lambda answered ${out.StatusCode}`;
    progress?.(`handed ${describeMessage("ingest", message).objects} back to ${functionName}`);
    return undefined;
  });
  return {
    queue: queue.name,
    dryRun: false,
    destination: `function ${functionName}`,
    method: "invoke",
    moved,
    ...(left.length > 0 ? { left } : {}),
  };
};
