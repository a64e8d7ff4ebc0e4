import { beforeEach, describe, expect, it } from "vitest";
import type { RecallMessage } from "#app/ports.js";
import { recallPage, startRecall } from "#app/recall-batch.js";
import { recallState } from "#domain/batch.js";
import type { BoundCertificate } from "#domain/device.js";
import { ConfigurationError, DependencyRejectedError, ThrottledError } from "#domain/errors.js";
import type { BatchId, CertificateId } from "#domain/ids.js";
import { createProvisioningWorld, type ProvisioningWorld } from "#test/support/provisioning-world.js";

let world: ProvisioningWorld;
let queued: RecallMessage[];
let failSend: boolean;
/** Certificate ids whose status change fails, and how. */
let failing: Map<string, () => Error>;
const BATCH = "lot-9" as BatchId;

const deps = () => ({
  registry: Object.create(world.registry, {
    updateCertificateStatus: {
      value: async (certificateId: CertificateId, status: "ACTIVE" | "INACTIVE" | "REVOKED") => {
        const failure = failing.get(certificateId);
        if (failure) throw failure();
        return world.registry.updateCertificateStatus(certificateId, status);
      },
    },
  }),
  connections: { disconnect: async () => "not-connected" as const },
  store: world.store,
  clock: world.deps.clock,
  queue: {
    enqueue: async (message: RecallMessage) => {
      if (failSend) throw new Error("SQS unavailable");
      queued.push(message);
    },
  },
});

beforeEach(async () => {
  world = await createProvisioningWorld();
  queued = [];
  failSend = false;
  failing = new Map();
  for (let i = 0; i < 60; i += 1) world.allow(`dev-${String(i).padStart(2, "0")}`, { batchId: BATCH });
  await world.store.createBatch({
    batchId: BATCH,
    caCertificateId: world.caCertificateId,
    manifestSha256: "x",
    source: "t",
    state: "REGISTERED",
    registeredBy: "t",
    registeredAt: "t",
    updatedAt: "t",
  });
});

const FIRST = { receiveCount: 1 };

const runQueue = async () => {
  while (queued.length > 0) {
    const message = queued.shift() as RecallMessage;
    await recallPage(deps(), message, FIRST);
  }
};

/** An ACTIVE device of the lot whose certificate IoT Core has (or, with `registered: false`, no longer has). */
const active = (deviceId: string, registered = true): CertificateId => {
  const certificateId = deviceId.padEnd(64, "0").replace(/[^0-9a-f]/g, "0") as CertificateId;
  const certificate: BoundCertificate = {
    certificateId,
    certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
    certificateSha256: "0".repeat(64),
    publicKeySha256: "0".repeat(64),
    notBefore: "2026-01-01T00:00:00.000Z",
    notAfter: "2027-01-01T00:00:00.000Z",
  };
  world.allow(deviceId, { batchId: BATCH, state: "ACTIVE", certificate, version: 3 });
  if (registered)
    world.registry.certificates.set(certificateId, {
      pem: "",
      status: "ACTIVE",
      caCertificateId: world.caCertificateId,
    });
  return certificateId;
};

const revokedEvents = (deviceId: string) =>
  world.store.events.filter((e) => e.deviceId === deviceId && e.type === "REVOKED").length;
const recallOf = async () => (await world.store.getBatch(BATCH))?.recall;

describe("batch recall", () => {
  it("revokes every device page by page and ends RECALLED", async () => {
    const recall = await startRecall(deps(), { batchId: BATCH, reason: "compromised", actor: "ops" });
    expect(recallState(recall)).toBe("RECALLING");
    await runQueue();
    const batch = await world.store.getBatch(BATCH);
    expect(batch?.recall).toMatchObject({ pagesDone: 3, lastPage: 2 });
    expect(recallState(batch?.recall ?? recall)).toBe("RECALLED");
    expect([...world.store.devices.values()].every((d) => d.state === "REVOKED")).toBe(true);
  });

  it("does not stall when the next page was claimed but its message was lost: the redelivery sends it", async () => {
    await startRecall(deps(), { batchId: BATCH, reason: "compromised", actor: "ops" });
    const first = queued.shift() as RecallMessage;
    failSend = true;
    await expect(recallPage(deps(), first, FIRST)).rejects.toThrow("SQS unavailable");
    failSend = false;
    await recallPage(deps(), first, { receiveCount: 2 });
    await runQueue();
    expect(recallState((await world.store.getBatch(BATCH))?.recall ?? ({} as never))).toBe("RECALLED");
  });

  it("queues the next page once when a page is delivered twice", async () => {
    await startRecall(deps(), { batchId: BATCH, reason: "compromised", actor: "ops" });
    const first = queued.shift() as RecallMessage;
    await recallPage(deps(), first, FIRST);
    await recallPage(deps(), first, FIRST);
    expect(queued.map((m) => m.page)).toEqual([1]);
  });

  it("queues the first page when asked again after queueing it failed: the recall does not stay RECALLING with nothing queued", async () => {
    failSend = true;
    await expect(
      startRecall(deps(), { batchId: BATCH, reason: "compromised", actor: "ops" }),
    ).rejects.toThrow("SQS unavailable");
    failSend = false;
    const again = await startRecall(deps(), { batchId: BATCH, reason: "asked again", actor: "ops-2" });
    expect(again).toMatchObject({ reason: "compromised", requestedBy: "ops" });
    expect(queued).toMatchObject([{ page: 0, reason: "compromised", actor: "ops" }]);
    await runQueue();
    expect(recallState((await recallOf()) ?? again)).toBe("RECALLED");
  });

  it("answers a recall asked again once pages are done with its progress, queueing nothing", async () => {
    await startRecall(deps(), { batchId: BATCH, reason: "compromised", actor: "ops" });
    await recallPage(deps(), queued.shift() as RecallMessage, FIRST);
    queued.length = 0;
    await startRecall(deps(), { batchId: BATCH, reason: "again", actor: "ops" });
    expect(queued).toEqual([]);
  });
});

describe("batch recall: each device on its own", () => {
  const startAndTakeFirstPage = async () => {
    await startRecall(deps(), { batchId: BATCH, reason: "compromised", actor: "ops" });
    return queued.shift() as RecallMessage;
  };

  it("revokes the lot's other devices when one device's certificate no longer exists in IoT Core", async () => {
    active("dev-00", false);
    active("dev-01");
    await startRecall(deps(), { batchId: BATCH, reason: "compromised", actor: "ops" });
    await runQueue();
    expect([...world.store.devices.values()].every((d) => d.state === "REVOKED")).toBe(true);
    expect(await recallOf()).toMatchObject({ pagesDone: 3, failures: [] });
  });

  it("records a device IoT Core refuses for good as failed on the recall, and still revokes the rest and finishes", async () => {
    const certificateId = active("dev-03");
    failing.set(
      certificateId,
      () => new DependencyRejectedError("certificate is in a state that forbids it"),
    );
    await startRecall(deps(), { batchId: BATCH, reason: "compromised", actor: "ops" });
    await runQueue();
    const recall = await recallOf();
    expect(recall?.failures).toEqual([
      { deviceId: "dev-03", page: 0, reason: "certificate is in a state that forbids it" },
    ]);
    expect(recallState(recall ?? ({} as never))).toBe("RECALLED");
    expect(world.store.devices.get("dev-03")?.state).toBe("ACTIVE");
    expect([...world.store.devices.values()].filter((d) => d.state === "REVOKED")).toHaveLength(59);
  });

  it("retries a device that failed transiently on the page's next delivery, without revoking the others twice", async () => {
    const certificateId = active("dev-04");
    failing.set(certificateId, () => new ThrottledError("UpdateCertificate throttled"));
    const first = await startAndTakeFirstPage();

    await expect(recallPage(deps(), first, FIRST)).rejects.toThrow(ThrottledError);
    expect(world.store.devices.get("dev-04")?.state).toBe("ACTIVE");
    expect(world.store.devices.get("dev-05")?.state).toBe("REVOKED");
    expect((await recallOf())?.pagesDone).toBe(0);

    failing.clear();
    expect(await recallPage(deps(), first, { receiveCount: 2 })).toMatchObject({ revoked: 1, failed: 0 });
    for (let i = 0; i < 25; i += 1) expect(revokedEvents(`dev-${String(i).padStart(2, "0")}`)).toBe(1);
    expect(await recallOf()).toMatchObject({ pagesDone: 1, failures: [] });
  });

  it("records a device that still fails transiently on the page's last delivery before the dead-letter queue as failed", async () => {
    const certificateId = active("dev-04");
    failing.set(certificateId, () => new ThrottledError("UpdateCertificate throttled"));
    const first = await startAndTakeFirstPage();
    for (const receiveCount of [1, 2, 3])
      await expect(recallPage(deps(), first, { receiveCount })).rejects.toThrow(ThrottledError);

    expect(await recallPage(deps(), first, { receiveCount: 4 })).toMatchObject({ failed: 1 });
    expect(await recallOf()).toMatchObject({
      pagesDone: 1,
      failures: [{ deviceId: "dev-04", page: 0, reason: "UpdateCertificate throttled" }],
    });
  });

  it("leaves the page to the queue when our own configuration is at fault, recording no device as failed", async () => {
    const certificateId = active("dev-06");
    failing.set(certificateId, () => new ConfigurationError("AccessDeniedException: not authorised"));
    const first = await startAndTakeFirstPage();
    await expect(recallPage(deps(), first, { receiveCount: 5 })).rejects.toThrow(ConfigurationError);
    expect(await recallOf()).toMatchObject({ pagesDone: 0 });
    expect((await recallOf())?.failures ?? []).toEqual([]);
  });
});
