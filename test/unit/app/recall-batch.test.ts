import { beforeEach, describe, expect, it } from "vitest";
import type { RecallMessage } from "#app/ports.js";
import { recallPage, startRecall } from "#app/recall-batch.js";
import { recallState } from "#domain/batch.js";
import type { BatchId } from "#domain/ids.js";
import {
  createProvisioningWorld,
  POLICY_NAME,
  type ProvisioningWorld,
} from "#test/support/provisioning-world.js";

let world: ProvisioningWorld;
let queued: RecallMessage[];
let failSend: boolean;
const BATCH = "lot-9" as BatchId;

const deps = () => ({
  registry: world.registry,
  connections: { disconnect: async () => "not-connected" as const },
  store: world.store,
  clock: world.deps.clock,
  policyName: POLICY_NAME,
  queue: {
    enqueue: async (messages: readonly RecallMessage[]) => {
      if (failSend) throw new Error("SQS unavailable");
      queued.push(...messages);
    },
  },
});

beforeEach(async () => {
  world = await createProvisioningWorld();
  queued = [];
  failSend = false;
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

const runQueue = async () => {
  while (queued.length > 0) {
    const message = queued.shift() as RecallMessage;
    await recallPage(deps(), message, false);
  }
};

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
    await expect(recallPage(deps(), first, false)).rejects.toThrow("SQS unavailable");
    failSend = false;
    await recallPage(deps(), first, true);
    await runQueue();
    expect(recallState((await world.store.getBatch(BATCH))?.recall ?? ({} as never))).toBe("RECALLED");
  });

  it("queues the next page once when a page is delivered twice", async () => {
    await startRecall(deps(), { batchId: BATCH, reason: "compromised", actor: "ops" });
    const first = queued.shift() as RecallMessage;
    await recallPage(deps(), first, false);
    await recallPage(deps(), first, false);
    expect(queued.map((m) => m.page)).toEqual([1]);
  });
});
