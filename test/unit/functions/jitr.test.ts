import type { Context } from "aws-lambda";
import { beforeEach, describe, expect, it } from "vitest";
import { jitpRegistration } from "#app/jitp-registration.js";
import { DependencyUnavailableError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import { jitr } from "#functions/jitr.js";
import { sqsEvent } from "#local/iot-simulator.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { createProvisioningWorld, type ProvisioningWorld } from "#test/support/provisioning-world.js";

/**
 * The JITR function built by its factory over in-memory ports: no environment, no AWS. What the
 * handler adds to the use case: which records SQS delivers again, which it drops, and the Thing
 * events JITP brings.
 */
const context = {
  functionName: "jitr",
  awsRequestId: "r",
  getRemainingTimeInMillis: () => 30_000,
} as Context;
let world: ProvisioningWorld;
let things: Map<string, CertificateId[]>;

let requeued: { messageId: string; delaySeconds: number }[];

const handler = () =>
  jitr(
    {
      ...world.deps,
      jitp: jitpRegistration(world.registry),
      things: { thingCertificates: async (name: DeviceId) => things.get(name) },
    },
    {
      requeue: {
        requeue: async (record, delaySeconds) =>
          void requeued.push({ messageId: record.messageId, delaySeconds }),
      },
    },
  );

beforeEach(async () => {
  world = await createProvisioningWorld();
  things = new Map();
  requeued = [];
});

describe("the JITR function", () => {
  it("provisions the certificate of a registered event and reports no failure", async () => {
    world.allow("fn-1");
    const registered = await world.connect({ deviceId: "fn-1" });

    const answer = await handler()(sqsEvent([registered]), context);

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(world.store.devices.get("fn-1")?.state).toBe("ACTIVE");
  });

  it("gives back only the record that failed for a reason of ours, for SQS to deliver again", async () => {
    world.allow("fn-ok");
    world.allow("fn-later");
    const ok = await world.connect({ deviceId: "fn-ok" });
    const later = await world.connect({ deviceId: "fn-later" });
    world.registry.failNext("createThing", new DependencyUnavailableError("IoT Core unavailable"));
    const event = sqsEvent([later, ok]);

    const answer = await handler()(event, context);

    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[0]?.messageId }] });
    expect(world.store.devices.get("fn-ok")?.state).toBe("ACTIVE");
    expect(world.registry.certificates.get(later.certificateId)?.status).toBe("PENDING_ACTIVATION");
  });

  it("sends a JITP certificate whose template IoT Core has not applied yet back to its queue for a few seconds, not failed", async () => {
    const ca = world.registry.cas.get(world.caCertificateId);
    if (ca) world.registry.cas.set(world.caCertificateId, { ...ca, jitpTemplate: "jitp" });
    world.allow("fn-early-event");
    const registered = await world.connect({ deviceId: "fn-early-event" });
    const event = sqsEvent([registered]);

    const answer = await handler()(event, context);

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(requeued).toEqual([{ messageId: event.Records[0]?.messageId, delaySeconds: expect.any(Number) }]);
    expect(requeued[0]?.delaySeconds).toBeGreaterThanOrEqual(2);
    expect(requeued[0]?.delaySeconds).toBeLessThan(10);
    expect(world.store.devices.get("fn-early-event")?.state).toBe("ALLOWED");
  });

  it("drops a malformed record instead of delivering it forever", async () => {
    expect(await handler()(sqsEvent(["not json", { certificateId: "../etc" }]), context)).toEqual({
      batchItemFailures: [],
    });
  });

  it("provisions the certificates attached to a Thing JITP made, from the registry's created event", async () => {
    const ca = world.registry.cas.get(world.caCertificateId);
    if (ca) world.registry.cas.set(world.caCertificateId, { ...ca, jitpTemplate: "jitp" });
    world.allow("fn-jitp");
    const registered = await world.connect({ deviceId: "fn-jitp" });
    world.registry.setStatus(registered.certificateId, "INACTIVE");
    world.registry.things.set("fn-jitp", { provisionedBy: "jitp" });
    world.registry.thingAttachments.add(`fn-jitp|${FakeRegistry.arn(registered.certificateId)}`);
    things.set("fn-jitp", [registered.certificateId]);

    const answer = await handler()(
      sqsEvent([{ eventType: "THING_EVENT", operation: "CREATED", thingName: "fn-jitp" }]),
      context,
    );

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(world.registry.certificates.get(registered.certificateId)?.status).toBe("ACTIVE");
  });
});
