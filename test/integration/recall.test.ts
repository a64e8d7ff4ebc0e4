import {
  DeleteCertificateCommand,
  DescribeCertificateCommand,
  DetachThingPrincipalCommand,
  UpdateCertificateCommand,
} from "@aws-sdk/client-iot";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { documentClient, iotClient, sqsClient } from "#adapters/aws-clients.js";
import { dynamoDbLifecycleStore } from "#adapters/dynamodb-lifecycle-store.js";
import type { BatchId, DeviceId } from "#domain/ids.js";
import { sqsEvent } from "#local/iot-simulator.js";
import { type ApiWorld, createApiWorld } from "#test/support/api-world.js";
import { injectFailure } from "#test/support/moto-world.js";

let w: ApiWorld;
const context = {} as Context;

beforeAll(async () => {
  w = await createApiWorld(inject("motoEndpoint"));
});

afterAll(async () => {
  await w?.api.close();
});

const drain = async () => {
  const sqs = new SQSClient({});
  const all: string[] = [];
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: w.world.recallQueueUrl, MaxNumberOfMessages: 10 }),
    );
    if (!out.Messages?.length) return all;
    all.push(...out.Messages.map((m) => m.Body ?? ""));
  }
};

const delivered = (bodies: string[], receiveCount = 1): SQSEvent => {
  const event = sqsEvent(bodies);
  for (const record of event.Records) record.attributes.ApproximateReceiveCount = String(receiveCount);
  return event;
};

/** Runs the worker until the queue is empty; answers the records it failed. */
const work = async () => {
  const { handler } = await import("#functions/recall-worker.js");
  const failed: unknown[] = [];
  for (let round = 0; round < 10; round += 1) {
    const bodies = await drain();
    if (bodies.length === 0) break;
    failed.push(...(await handler(delivered(bodies), context)).batchItemFailures);
  }
  return failed;
};

const provisioned = async (deviceId: string) => {
  const message = await w.world.connect({ deviceId });
  const { handler: jitr } = await import("#functions/jitr.js");
  expect(await jitr(sqsEvent([message]), context)).toEqual({ batchItemFailures: [] });
  return message.certificateId;
};

describe("recall through the queue", () => {
  it("queues the first page when asked again after the queue refused it, and finishes", async () => {
    const ids = [w.world.id("rq-1"), w.world.id("rq-2")];
    const batchId = await w.world.allow(`deviceId\n${ids.join("\n")}\n`);
    const stop = injectFailure(sqsClient(), { command: "SendMessageCommand", mode: "instead" });
    const first = await w.client("POST", `/batches/${batchId}/recall`, {
      body: { reason: "lot compromised" },
    });
    stop();
    expect(first.status).toBe(503);

    const again = await w.client("POST", `/batches/${batchId}/recall`, { body: { reason: "asked again" } });
    expect(again).toMatchObject({
      status: 202,
      body: { recall: { reason: "lot compromised", pagesDone: 0 } },
    });
    expect(await work()).toEqual([]);
    expect((await w.client("GET", `/batches/${batchId}`)).body).toMatchObject({
      recall: { state: "RECALLED", failures: [] },
    });
  });

  it("revokes the lot around a device whose certificate was deleted and one IoT Core refuses, recording the refused one", async () => {
    const [refused, deleted, allowed] = ["rf-a", "rf-b", "rf-c"].map((name) => w.world.id(name)) as [
      string,
      string,
      string,
    ];
    const batchId = await w.world.allow(`deviceId\n${refused}\n${deleted}\n${allowed}\n`);
    await provisioned(refused);
    const gone = await provisioned(deleted);
    const arn = (await w.world.iot.send(new DescribeCertificateCommand({ certificateId: gone })))
      .certificateDescription?.certificateArn;
    await w.world.iot.send(new UpdateCertificateCommand({ certificateId: gone, newStatus: "INACTIVE" }));
    await w.world.iot.send(new DetachThingPrincipalCommand({ thingName: deleted, principal: arn }));
    await w.world.iot.send(new DeleteCertificateCommand({ certificateId: gone, forceDelete: true }));

    expect((await w.client("POST", `/batches/${batchId}/recall`, { body: { reason: "qa" } })).status).toBe(
      202,
    );
    // The first certificate update of the page is the refused device's (pages go by device id).
    const stop = injectFailure(iotClient(), {
      command: "UpdateCertificateCommand",
      mode: "instead",
      error: () => Object.assign(new Error("certificate is locked"), { name: "InvalidRequestException" }),
    });
    expect(await work()).toEqual([]);
    stop();

    const batch = (await w.client("GET", `/batches/${batchId}`)).body;
    expect(batch).toMatchObject({
      recall: {
        state: "RECALLED",
        failures: [{ deviceId: refused, page: 0, reason: expect.stringContaining("certificate is locked") }],
      },
    });
    const states = Object.fromEntries(
      (
        (await w.client("GET", "/devices", { query: { batchId } })).body as {
          devices: { deviceId: string; state: string }[];
        }
      ).devices.map((d) => [d.deviceId, d.state]),
    );
    expect(states).toEqual({ [refused]: "ACTIVE", [deleted]: "REVOKED", [allowed]: "REVOKED" });
  });

  it("counts a page and adds its failures once, however often the page is done", async () => {
    const batchId = (await w.world.allow(`deviceId\n${w.world.id("once")}\n`)) as BatchId;
    const store = dynamoDbLifecycleStore(documentClient(), w.world.tableName);
    await store.startRecall(batchId, { reason: "r", requestedBy: "ops", requestedAt: "t", pagesDone: 0 });
    const failure = { deviceId: w.world.id("once") as DeviceId, page: 0, reason: "refused" };
    await store.recallPageDone(batchId, 0, true, [failure]);
    await store.recallPageDone(batchId, 0, true, [failure]);
    expect((await store.getBatch(batchId))?.recall).toMatchObject({
      pagesDone: 1,
      lastPage: 0,
      failures: [failure],
    });
  });
});
