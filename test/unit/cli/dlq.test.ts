import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  SQSServiceException,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EXIT } from "#cli/failures.js";
import { awsEnvironment, runProcessCli, STATIC_KEYS } from "./real-cli.js";

/** fleetgate dlq list|redrive as a process runs them, against mocked CloudFormation, SQS and Lambda. */
const cloudFormation = mockClient(CloudFormationClient);
const sqs = mockClient(SQSClient);
const lambda = mockClient(LambdaClient);

const QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012";
const URLS = {
  JitrQueueUrl: `${QUEUE}/fleetgate-dev-JitrQueue`,
  JitrDeadLetterQueueUrl: `${QUEUE}/fleetgate-dev-JitrDeadLetterQueue`,
  RecallQueueUrl: `${QUEUE}/fleetgate-dev-RecallQueue`,
  RecallDeadLetterQueueUrl: `${QUEUE}/fleetgate-dev-RecallDeadLetterQueue`,
  IngestManifestDeadLetterQueueUrl: `${QUEUE}/fleetgate-dev-IngestManifestDeadLetterQueue`,
  IngestManifestFunctionName: "fleetgate-dev-ingestManifest",
};
const arnOf = (url: string) => `arn:aws:sqs:eu-west-1:123456789012:${url.split("/").at(-1)}`;
const NOW = Date.parse("2026-11-25T12:00:00Z");
const CERT = "0f21".padEnd(64, "a");
const CA = "5098".padEnd(64, "b");

const stack = (outputs: Record<string, string> = URLS) =>
  cloudFormation.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: "fleetgate-dev",
        CreationTime: new Date(),
        StackStatus: "UPDATE_COMPLETE",
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  });

const depth = (url: string, messages: number, inFlight = 0) =>
  sqs.on(GetQueueAttributesCommand, { QueueUrl: url }).resolves({
    Attributes: {
      QueueArn: arnOf(url),
      ApproximateNumberOfMessages: String(messages),
      ApproximateNumberOfMessagesNotVisible: String(inFlight),
    },
  });

const message = (id: string, body: unknown, sentAt = NOW - 3_600_000, attributes = {}) => ({
  MessageId: id,
  ReceiptHandle: `handle-${id}`,
  Body: JSON.stringify(body),
  Attributes: { SentTimestamp: String(sentAt), ApproximateReceiveCount: "6" },
  MessageAttributes: attributes,
});

const run = (...argv: string[]) => runProcessCli(["dlq", ...argv]);

beforeEach(() => {
  cloudFormation.reset();
  sqs.reset();
  lambda.reset();
  awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1" } });
  vi.useFakeTimers({ toFake: ["Date"], now: NOW });
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
});

describe("fleetgate dlq list", () => {
  it("finds the three queues from the stack's outputs and shows their depth and the oldest message seen", async () => {
    stack();
    depth(URLS.JitrDeadLetterQueueUrl, 2, 1);
    depth(URLS.RecallDeadLetterQueueUrl, 0);
    depth(URLS.IngestManifestDeadLetterQueueUrl, 0);
    sqs.on(ReceiveMessageCommand, { QueueUrl: URLS.JitrDeadLetterQueueUrl }).resolves({
      Messages: [
        message("m1", { certificateId: CERT }, NOW - 7_500_000),
        message("m2", { certificateId: CERT }, NOW - 60_000),
      ],
    });

    const result = await run("list");

    expect(result.code, result.stderr).toBe(EXIT.ok);
    expect(cloudFormation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: "fleetgate-dev" });
    expect(result.stdout.trimEnd().split("\n")).toEqual([
      "queue   messages  in flight  oldest seen                           dead-letter queue",
      `jitr    2         1          2 h 5 min (2026-11-25T09:55:00.000Z)  ${URLS.JitrDeadLetterQueueUrl}`,
      `recall  0         0          -                                     ${URLS.RecallDeadLetterQueueUrl}`,
      `ingest  0         0          -                                     ${URLS.IngestManifestDeadLetterQueueUrl}`,
    ]);
    // A peek: the messages stay visible, nothing is deleted.
    expect(sqs).toHaveReceivedCommandWith(ReceiveMessageCommand, { VisibilityTimeout: 0 });
    expect(sqs).not.toHaveReceivedCommand(DeleteMessageCommand);
  });

  it("takes the stack from --stage or --stack-name", async () => {
    stack();
    for (const url of [
      URLS.JitrDeadLetterQueueUrl,
      URLS.RecallDeadLetterQueueUrl,
      URLS.IngestManifestDeadLetterQueueUrl,
    ])
      depth(url, 0);

    await run("list", "--stage", "prod");
    await run("list", "--stack-name", "devices-eu", "--json");

    expect(
      cloudFormation.commandCalls(DescribeStacksCommand).map((call) => call.args[0].input.StackName),
    ).toEqual(["fleetgate-prod", "devices-eu"]);
  });

  it("exits 4 when there is no such stack, saying how to name it", async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(
        Object.assign(new Error("Stack with id fleetgate-dev does not exist"), { name: "ValidationError" }),
      );

    const result = await run("list");

    expect(result.code).toBe(EXIT.notFound);
    expect(result.stderr).toContain("fleetgate: no stack fleetgate-dev in eu-west-1");
    expect(result.stderr).toMatch(/--stack-name, or --stage/);
  });

  it("exits 2 naming the output a stack of an older fleetgate lacks", async () => {
    const { RecallDeadLetterQueueUrl: _, ...older } = URLS;
    stack(older);

    const result = await run("list");

    expect(result.code).toBe(EXIT.invalid);
    expect(result.stderr).toContain("stack fleetgate-dev has no output RecallDeadLetterQueueUrl");
  });

  it("exits 6 when the credentials may not read the queues", async () => {
    stack();
    sqs
      .on(GetQueueAttributesCommand)
      .rejects(Object.assign(new Error("not authorized"), { name: "AccessDenied" }));

    expect((await run("list")).code).toBe(EXIT.notAuthorised);
  });
});

describe("fleetgate dlq redrive --dry-run", () => {
  it("says how many JITR messages there are and which certificates, moving nothing", async () => {
    stack();
    depth(URLS.JitrDeadLetterQueueUrl, 1);
    sqs
      .on(ReceiveMessageCommand)
      .resolves({ Messages: [message("m1", { certificateId: CERT, caCertificateId: CA })] });

    const result = await run("redrive", "jitr", "--dry-run");

    expect(result.code, result.stderr).toBe(EXIT.ok);
    expect(result.stdout.trimEnd().split("\n")).toEqual([
      "jitr dead-letter queue: 1 messages (dry run: nothing moved)",
      `redrive moves them back to ${URLS.JitrQueueUrl}`,
      "they are:",
      `  certificate ${CERT}  CA ${CA}  sent 2026-11-25T11:00:00.000Z, received 6 times`,
    ]);
    expect(sqs).not.toHaveReceivedCommand(StartMessageMoveTaskCommand);
    expect(sqs).not.toHaveReceivedCommand(SendMessageCommand);
    expect(sqs).not.toHaveReceivedCommand(DeleteMessageCommand);
  });

  it("names the batch and page of each recall message, as JSON with --json", async () => {
    stack();
    depth(URLS.RecallDeadLetterQueueUrl, 25);
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [message("m1", { batchId: "lot-9", page: 3, reason: "lot recalled", actor: "a" })],
    });

    const result = await run("redrive", "recall", "--dry-run", "--json");

    expect(JSON.parse(result.stdout)).toEqual({
      queue: "recall",
      dryRun: true,
      messages: 25,
      destination: URLS.RecallQueueUrl,
      sample: [
        {
          batchId: "lot-9",
          page: 3,
          reason: "lot recalled",
          sentAt: "2026-11-25T11:00:00.000Z",
          receives: 6,
        },
      ],
    });
  });

  it("names the upload and the error of each failed ingest", async () => {
    stack();
    depth(URLS.IngestManifestDeadLetterQueueUrl, 1);
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        message(
          "m1",
          {
            Records: [
              {
                s3: {
                  bucket: { name: "manifests" },
                  object: { key: "manifests/lot-1.csv", versionId: "v1" },
                },
              },
            ],
          },
          NOW - 60_000,
          {
            ErrorCode: { DataType: "String", StringValue: "200" },
            ErrorMessage: { DataType: "String", StringValue: "Task timed out after 900.00 seconds" },
          },
        ),
      ],
    });

    const result = await run("redrive", "ingest", "--dry-run");

    expect(result.stdout).toContain(
      "redrive invokes function fleetgate-dev-ingestManifest again with each (an upload registered before changes nothing)",
    );
    expect(result.stdout).toContain(
      "  s3://manifests/manifests/lot-1.csv (version v1)  failed: 200 Task timed out after 900.00 seconds",
    );
  });

  it("refuses a queue it does not know", async () => {
    const result = await run("redrive", "jobs", "--dry-run");
    expect(result.code).toBe(EXIT.invalid);
    expect(cloudFormation).not.toHaveReceivedCommand(DescribeStacksCommand);
  });
});

describe("fleetgate dlq redrive", () => {
  it("starts SQS's message move task back to the source queue and reports how it ended", async () => {
    stack();
    depth(URLS.JitrDeadLetterQueueUrl, 3);
    depth(URLS.JitrQueueUrl, 0);
    sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: "task-1" });
    sqs.on(ListMessageMoveTasksCommand).resolves({
      Results: [{ TaskHandle: "task-1", Status: "COMPLETED", ApproximateNumberOfMessagesMoved: 3 }],
    });

    const result = await run("redrive", "jitr");

    expect(result.code, result.stderr).toBe(EXIT.ok);
    expect(sqs).toHaveReceivedCommandWith(StartMessageMoveTaskCommand, {
      SourceArn: arnOf(URLS.JitrDeadLetterQueueUrl),
      DestinationArn: arnOf(URLS.JitrQueueUrl),
    });
    expect(result.stdout).toBe(
      `jitr: 3 messages moved back to ${URLS.JitrQueueUrl}, with a message move task\nmove task COMPLETED\n`,
    );
    expect(sqs).not.toHaveReceivedCommand(DeleteMessageCommand);
  });

  it("where the endpoint has no message move task, sends each message to the source queue before deleting it", async () => {
    stack();
    depth(URLS.RecallDeadLetterQueueUrl, 2);
    depth(URLS.RecallQueueUrl, 0);
    sqs
      .on(StartMessageMoveTaskCommand)
      .rejects(new SQSServiceException({ name: "InvalidAction", $fault: "client", $metadata: {} }));
    const pages = [
      { batchId: "lot-9", page: 1 },
      { batchId: "lot-9", page: 2 },
    ];
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: pages.map((page, i) => message(`m${i}`, page)) })
      .resolves({ Messages: [] });
    const order: string[] = [];
    sqs.on(SendMessageCommand).callsFake((input) => {
      order.push(`send ${input.MessageBody}`);
      return {};
    });
    sqs.on(DeleteMessageCommand).callsFake((input) => {
      order.push(`delete ${input.ReceiptHandle}`);
      return {};
    });

    const result = await run("redrive", "recall", "--json");

    expect(result.code, result.stderr).toBe(EXIT.ok);
    expect(JSON.parse(result.stdout)).toMatchObject({ method: "receive-send-delete", moved: 2 });
    expect(order).toEqual([
      `send ${JSON.stringify(pages[0])}`,
      "delete handle-m0",
      `send ${JSON.stringify(pages[1])}`,
      "delete handle-m1",
    ]);
    expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, { QueueUrl: URLS.RecallQueueUrl });
  });

  it("invokes the ingest again with each failed upload's event, deleting it once Lambda took it; what is not an event stays", async () => {
    stack();
    const event = {
      Records: [{ s3: { bucket: { name: "manifests" }, object: { key: "manifests/lot-1.csv" } } }],
    };
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message("m1", event), message("m2", "garbage")] })
      .resolves({ Messages: [] });
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });

    const result = await run("redrive", "ingest");

    expect(result.code, result.stderr).toBe(EXIT.ok);
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ FunctionName: URLS.IngestManifestFunctionName, InvocationType: "Event" });
    expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual(event);
    expect(sqs).toHaveReceivedCommandTimes(DeleteMessageCommand, 1);
    expect(sqs).toHaveReceivedCommandWith(DeleteMessageCommand, { ReceiptHandle: "handle-m1" });
    expect(result.stdout).toBe(
      `ingest: 1 messages handed back to function ${URLS.IngestManifestFunctionName}, each invoked again, asynchronously\nleft in the queue: m2: not an S3 event\n`,
    );
  });

  it("hands back an ingest that went on over its runs' limit as S3's event alone, so that its runs are counted again", async () => {
    stack();
    const records = [{ s3: { bucket: { name: "manifests" }, object: { key: "manifests/lot-1.csv" } } }];
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message("m1", { Records: records, continuation: { run: 49 } })] })
      .resolves({ Messages: [] });
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });

    expect((await run("redrive", "ingest")).code).toBe(EXIT.ok);

    const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual({ Records: records });
  });
});
