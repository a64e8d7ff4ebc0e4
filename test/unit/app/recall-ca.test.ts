import { beforeEach, describe, expect, it } from "vitest";
import type { RecallMessage } from "#app/ports.js";
import { recallCa } from "#app/recall-ca.js";
import type { BatchId, CaCertificateId } from "#domain/ids.js";
import { createProvisioningWorld, type ProvisioningWorld } from "#test/support/provisioning-world.js";

let world: ProvisioningWorld;
let queued: RecallMessage[];
const OTHER_CA = "cd".repeat(32) as CaCertificateId;

const deps = () => ({
  store: world.store,
  clock: world.deps.clock,
  queue: { enqueue: async (message: RecallMessage) => void queued.push(message) },
});

const batch = (batchId: string, caCertificateId: CaCertificateId) =>
  world.store.createBatch({
    batchId: batchId as BatchId,
    caCertificateId,
    manifestSha256: batchId,
    source: "test",
    state: "REGISTERED",
    registeredBy: "test",
    registeredAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  });

beforeEach(async () => {
  world = await createProvisioningWorld();
  queued = [];
  await batch("line-a", world.caCertificateId);
  await batch("line-b", OTHER_CA);
  await batch("line-c", world.caCertificateId);
});

describe("recalling a CA", () => {
  it("recalls every batch the CA issued, and no other, each through its first recall page", async () => {
    const recall = await recallCa(deps(), {
      caCertificateId: world.caCertificateId,
      reason: "CA key leaked",
      actor: "ops",
    });
    expect(recall.batches.map((b) => b.batchId).sort()).toEqual(["line-a", "line-c"]);
    expect(queued.map((m) => [m.batchId, m.page]).sort()).toEqual([
      ["line-a", 0],
      ["line-c", 0],
    ]);
    expect((await world.store.getBatch("line-b" as BatchId))?.recall).toBeUndefined();
    expect((await world.store.getBatch("line-a" as BatchId))?.recall).toMatchObject({
      reason: "CA key leaked",
      requestedBy: "ops",
    });
  });

  it("asked again, starts nothing twice: the recalls keep their first reason", async () => {
    await recallCa(deps(), { caCertificateId: world.caCertificateId, reason: "first", actor: "ops" });
    const again = await recallCa(deps(), {
      caCertificateId: world.caCertificateId,
      reason: "second",
      actor: "ops",
    });
    expect(again.batches.map((b) => b.recall.reason)).toEqual(["first", "first"]);
  });

  it("answers with no batches for a CA that issued none", async () => {
    const recall = await recallCa(deps(), {
      caCertificateId: "ef".repeat(32) as CaCertificateId,
      reason: "r",
      actor: "ops",
    });
    expect(recall.batches).toEqual([]);
    expect(queued).toEqual([]);
  });
});
