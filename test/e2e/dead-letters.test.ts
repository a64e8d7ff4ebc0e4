import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ListObjectVersionsCommand, S3Client } from "@aws-sdk/client-s3";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectWithRetries, type DeviceSession } from "#local/device.js";
import { localCliEnvironment } from "#local/local-cli.js";
import { localClientConfig } from "#local/ministack.js";
import { createE2eWorld, type E2eWorld, eventually } from "#test/support/e2e-world.js";

/**
 * fleetgate dlq on the deployed stack: the CLI finds the queues from the stack's outputs and uses
 * the operator's own credentials (here the local account's root, AWS_ENDPOINT_URL pointing at it).
 * ministack has no StartMessageMoveTask: the CLI moves the messages one by one there, which is
 * what these tests exercise; the move task itself is tested against a mocked SQS (test/unit/cli).
 */
let world: E2eWorld;
let sqs: SQSClient;
const sessions: DeviceSession[] = [];
const ROOT = new URL("../../", import.meta.url).pathname;
const execute = promisify(execFile);

beforeAll(async () => {
  world = await createE2eWorld("dlq");
  sqs = new SQSClient(localClientConfig(world.stack.aws));
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

/** The CLI as an operator with AWS credentials runs it against the local stack (stage `local`). */
const dlq = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await execute(
      process.execPath,
      [join(ROOT, "bin", "fleetgate.mjs"), "dlq", ...args, "--stage", "local"],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
          ...localCliEnvironment(world.stack),
          AWS_ENDPOINT_URL: world.stack.aws.endpoint,
        },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
};

const output = (name: string) => world.stack.stack.outputs[name] ?? "";

describe("fleetgate dlq list", () => {
  it("finds the three dead-letter queues from the stack's outputs", async () => {
    const result = await dlq("list", "--json");

    expect(result.code, result.stderr).toBe(0);
    const { queues } = JSON.parse(result.stdout) as { queues: { queue: string; url: string }[] };
    expect(queues.map((queue) => [queue.queue, queue.url])).toEqual([
      ["jitr", output("JitrDeadLetterQueueUrl")],
      ["recall", output("RecallDeadLetterQueueUrl")],
      ["ingest", output("IngestManifestDeadLetterQueueUrl")],
    ]);
  });
});

describe("fleetgate dlq redrive jitr", () => {
  it("a dry run names the waiting certificate and moves nothing; the redrive provisions it without the device connecting again", async () => {
    // An early device: its certificate waits, PENDING_ACTIVATION, for its manifest. One CONNECT,
    // so that no later event of its own provisions it once the manifest lands.
    const device = await world.device(world.id("redriven"));
    expect(
      (await connectWithRetries(device.identity, world.stack.mqtt, { maxAttempts: 1 })).session,
    ).toBeUndefined();
    await eventually(
      () => world.certificateRecord(device.certificateId),
      (record) => record?.outcome === "WAITING",
      { what: "a WAITING record" },
    );
    await world.registerBatch(`deviceId\n${device.deviceId}\n`);
    // Its JITR event, as the queue keeps one that failed five times.
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: output("JitrDeadLetterQueueUrl"),
        MessageBody: JSON.stringify({
          certificateId: device.certificateId,
          caCertificateId: world.caCertificateId,
          timestamp: Date.now(),
          certificateStatus: "PENDING_ACTIVATION",
          awsAccountId: world.stack.aws.accountId,
          certificateRegistrationTimestamp: Date.now(),
        }),
      }),
    );

    const dryRun = await dlq("redrive", "jitr", "--dry-run");

    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toMatch(/^jitr dead-letter queue: \d+ messages \(dry run: nothing moved\)/);
    expect(dryRun.stdout).toContain(`redrive moves them back to ${output("JitrQueueUrl")}`);
    expect(dryRun.stdout).toContain(`certificate ${device.certificateId}  CA ${world.caCertificateId}`);
    expect(await world.certificateStatus(device.certificateId)).toBe("PENDING_ACTIVATION");

    const redriven = await dlq("redrive", "jitr", "--json");

    expect(redriven.code, redriven.stderr).toBe(0);
    expect(JSON.parse(redriven.stdout)).toMatchObject({
      queue: "jitr",
      dryRun: false,
      method: "receive-send-delete",
      destination: output("JitrQueueUrl"),
    });
    await eventually(
      () => world.deviceRecord(device.deviceId),
      (record) => record?.state === "ACTIVE",
      { what: "the device provisioned from the redriven event", timeoutMs: 60_000 },
    );
    expect(await world.certificateStatus(device.certificateId)).toBe("ACTIVE");
    const after = await dlq("redrive", "jitr", "--dry-run");
    expect(after.stdout).not.toContain(device.certificateId);
  });
});

describe("fleetgate dlq redrive recall", () => {
  it("a dry run names the batch and page of a recall page kept in the queue; the redrive hands it to the recall worker", async () => {
    const device = await world.device(world.id("recalled"));
    const batchId = await world.registerBatch(`deviceId\n${device.deviceId}\n`);
    const recall = await world.cli(["batch", "recall", batchId, "--reason", "lot compromised"]);
    expect(recall.code, recall.stderr).toBe(0);
    await eventually(
      async () => JSON.parse((await world.cli(["batch", "show", batchId, "--json"])).stdout),
      (batch) => batch.recall?.state === "RECALLED",
      { what: "the recall done", timeoutMs: 60_000 },
    );
    // Its first page, as the queue keeps one that failed five times (counting it again changes nothing).
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: output("RecallDeadLetterQueueUrl"),
        MessageBody: JSON.stringify({ batchId, page: 1, reason: "lot compromised", actor: "e2e" }),
      }),
    );

    const dryRun = await dlq("redrive", "recall", "--dry-run");

    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toContain(`batch ${batchId} page 1 (lot compromised)`);

    const redriven = JSON.parse((await dlq("redrive", "recall", "--json")).stdout);

    expect(redriven).toMatchObject({ queue: "recall", destination: output("RecallQueueUrl") });
    expect(redriven.moved).toBeGreaterThanOrEqual(1);
    expect((await dlq("redrive", "recall", "--dry-run")).stdout).not.toContain(`batch ${batchId} `);
    expect(await world.deviceRecord(device.deviceId)).toMatchObject({ state: "REVOKED" });
  });
});

describe("fleetgate dlq redrive ingest", () => {
  it("names the upload of a failed ingest, and hands its S3 event back to the ingest function, which finds it registered", async () => {
    const path = join(tmpdir(), `${world.id("manifest")}.csv`);
    writeFileSync(path, `deviceId\n${world.id("uploaded")}\n`);
    const uploaded = await world.cli([
      "batch",
      "register",
      path,
      "--ca",
      world.caCertificateId,
      "--upload",
      "--json",
    ]);
    expect(uploaded.code, uploaded.stderr).toBe(0);
    const batch = JSON.parse(uploaded.stdout) as { batchId: string; source: string; state: string };
    const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(batch.source) ?? [];
    const s3 = new S3Client({ ...localClientConfig(world.stack.aws), forcePathStyle: true });
    const versionId = (await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key })))
      .Versions?.[0]?.VersionId;
    // The S3 event of that upload, as Lambda keeps an asynchronous invocation that failed its retries.
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: output("IngestManifestDeadLetterQueueUrl"),
        MessageBody: JSON.stringify({
          Records: [
            {
              eventSource: "aws:s3",
              eventName: "ObjectCreated:Put",
              s3: { bucket: { name: bucket }, object: { key, ...(versionId ? { versionId } : {}) } },
            },
          ],
        }),
        MessageAttributes: {
          ErrorCode: { DataType: "String", StringValue: "200" },
          ErrorMessage: { DataType: "String", StringValue: "Task timed out after 900.00 seconds" },
        },
      }),
    );

    const dryRun = await dlq("redrive", "ingest", "--dry-run");

    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toContain(`s3://${bucket}/${key}`);
    expect(dryRun.stdout).toContain("failed: 200 Task timed out after 900.00 seconds");

    const redriven = JSON.parse((await dlq("redrive", "ingest", "--json")).stdout);

    expect(redriven).toMatchObject({
      queue: "ingest",
      method: "invoke",
      destination: `function ${output("IngestManifestFunctionName")}`,
    });
    expect(redriven.moved).toBeGreaterThanOrEqual(1);
    expect((await dlq("redrive", "ingest", "--dry-run")).stdout).not.toContain(key);
    const shown = JSON.parse((await world.cli(["batch", "show", batch.batchId, "--json"])).stdout);
    expect(shown).toMatchObject({ state: batch.state, source: batch.source });
  });
});
