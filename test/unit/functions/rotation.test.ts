import type { Context, ScheduledEvent } from "aws-lambda";
import { beforeEach, describe, expect, it } from "vitest";
import type { CampaignDeps } from "#app/request-rotation.js";
import { DependencyUnavailableError } from "#domain/errors.js";
import type { BatchId, DeviceId } from "#domain/ids.js";
import type { RotationCampaign, RotationTimer } from "#domain/rotation.js";
import { rotation } from "#functions/rotation.js";
import { rotationWorker } from "#functions/rotation-worker.js";
import { sqsEvent } from "#local/iot-simulator.js";
import { createRotationWorld, type RotationWorld } from "#test/support/rotation-world.js";

/**
 * The rotation functions built by their factories over in-memory ports: no environment, no AWS.
 * What the handlers add to the use cases: reading the topic rule's message, which records SQS
 * delivers again, which it drops, and the worker's two kinds of work and its schedule.
 */
const context = {
  functionName: "rotation",
  awsRequestId: "r",
  getRemainingTimeInMillis: () => 30_000,
} as Context;
let world: RotationWorld;
let current: string;

beforeEach(async () => {
  world = await createRotationWorld();
  current = (await world.activeDevice("sensor-1")).certificateId;
});

const fromRule = (step: "csr" | "commit", fields: Record<string, unknown> = {}) => ({
  topic: `devices/sensor-1/rotation/${step}`,
  clientId: "sensor-1",
  principal: current,
  ...fields,
});

const handler = () => rotation(world.deps, { topicPrefix: "devices" });

describe("the rotation function", () => {
  it("answers a device's request from the rule's message and reports no failure", async () => {
    const answer = await handler()(
      sqsEvent([fromRule("csr", { csr: (await world.csr("sensor-1")).pem })]),
      context,
    );

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(world.messages.last()?.subtopic).toBe("rotation/csr/accepted");
  });

  it("answers a request without a CSR on the device's rejected topic, and drops it", async () => {
    expect(await handler()(sqsEvent([fromRule("csr")]), context)).toEqual({ batchItemFailures: [] });
    expect(world.messages.last()).toMatchObject({
      deviceId: "sensor-1",
      subtopic: "rotation/csr/rejected",
      payload: { code: "MESSAGE_INVALID" },
    });
  });

  it("drops, unanswered, what no device's certificate said (not JSON, an IAM caller's publish)", async () => {
    const event = sqsEvent(["not json", fromRule("csr", { csr: "x", principal: "AIDAEXAMPLE" })]);
    expect(await handler()(event, context)).toEqual({ batchItemFailures: [] });
    expect(world.messages.sent).toEqual([]);
  });

  it("gives back only the record that failed for a reason of ours, for SQS to deliver again", async () => {
    world.registry.failNext("attachThingPrincipal", new DependencyUnavailableError("IoT Core unavailable"));
    const event = sqsEvent([fromRule("csr", { csr: (await world.csr("sensor-1")).pem })]);

    const answer = await handler()(event, context);

    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[0]?.messageId }] });
    expect(world.statusOf(current)).toBe("ACTIVE");
  });
});

describe("the rotation worker", () => {
  const worker = () =>
    rotationWorker({
      timers: { ...world.deps, parkedTimers: world.ledger },
      campaigns: {
        ledger: world.ledger,
        jobs: world.jobs,
        clock: world.clock,
        newId: world.deps.newId,
        windows: world.deps.windows,
        perMinute: 200,
        campaigns: world.ledger,
        queue: world.queue,
        store: { pageDevices: async () => ({ items: [...world.ledger.devices.values()] }) },
        expiry: { inventory: { caCertificates: async () => [] } },
      } satisfies CampaignDeps,
    });

  it("runs a timer that came due: a rotation never committed is rolled back", async () => {
    await handler()(sqsEvent([fromRule("csr", { csr: (await world.csr("sensor-1")).pem })]), context);
    const deadline = world.queue.timers[0]?.timer;
    world.advance(11 * 60_000);

    expect(await worker()(sqsEvent([{ kind: "timer", timer: deadline }]), context)).toEqual({
      batchItemFailures: [],
    });
    expect((await world.ledger.getDevice("sensor-1" as DeviceId))?.rotation?.state).toBe("ROLLED_BACK");
  });

  it("runs a campaign's page", async () => {
    const campaign: RotationCampaign = {
      campaignId: "c-1",
      selector: { batchId: "lot-1" as BatchId },
      windows: world.deps.windows,
      requestedBy: "ops",
      createdAt: "2026-11-25T12:00:00.000Z",
      perMinute: 200,
      pagesDone: 0,
      requested: 0,
      skipped: 0,
    };
    await world.ledger.createCampaign(campaign);

    await worker()(sqsEvent([{ kind: "campaign-page", page: { campaignId: "c-1", page: 0 } }]), context);

    expect([...world.jobs.jobs.values()][0]?.deviceIds).toEqual(["sensor-1"]);
  });

  it("on its schedule, queues the parked timers due within 15 minutes", async () => {
    const soon: RotationTimer = {
      kind: "revoke-replaced",
      deviceId: "sensor-1" as DeviceId,
      rotationId: "r",
      dueAt: "2026-11-25T12:10:00.000Z",
    };
    const later = { ...soon, dueAt: "2026-11-26T12:00:00.000Z" };
    await world.ledger.park(soon);
    await world.ledger.park(later);

    await worker()({ source: "aws.events" } as ScheduledEvent, context);

    expect(world.queue.timers).toEqual([{ timer: soon, delaySeconds: 600 }]);
    expect(world.ledger.parked).toEqual([later]);
  });
});
