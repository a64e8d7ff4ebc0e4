import { Logger } from "@aws-lambda-powertools/logger";
import type { Context } from "aws-lambda";
import { beforeEach, describe, expect, it } from "vitest";
import type { RetirementRunDeps } from "#app/retire-certificates.js";
import type { CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { certificateRetirement } from "#functions/retire-certificates.js";
import { FakeInventory } from "#test/support/fake-inventory.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const DAY = 86_400_000;
const CA = "a".repeat(64) as CaCertificateId;
const OTHER_CA = "b".repeat(64) as CaCertificateId;
const SCHEDULED = { source: "aws.events", "detail-type": "Scheduled Event" };
const context = {
  functionName: "retire-certificates",
  awsRequestId: "request-1",
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;
let now: Date;
let store: InMemoryLifecycleStore;
let registry: FakeRegistry;
let job: ReturnType<typeof certificateRetirement>;
let sequence = 0;

beforeEach(() => {
  now = new Date("2026-11-25T12:00:00Z");
  store = new InMemoryLifecycleStore();
  registry = new FakeRegistry();
  const deps: RetirementRunDeps = {
    store,
    registry,
    inventory: new FakeInventory(registry),
    clock: { now: () => now },
    retentionMs: 30 * DAY,
    pause: async () => undefined,
  };
  job = certificateRetirement(deps, new Logger({ logLevel: "SILENT" }));
});

/** A REVOKED certificate queued since `daysAgo`. */
const queued = async (daysAgo: number, caCertificateId: CaCertificateId = CA) => {
  sequence += 1;
  const certificateId = sequence.toString(16).padStart(64, "0") as CertificateId;
  registry.certificates.set(certificateId, { pem: "pem", status: "REVOKED", caCertificateId });
  await store.scheduleRetirement({
    certificateId,
    deviceId: `device-${sequence}` as DeviceId,
    caCertificateId,
    since: new Date(now.getTime() - daysAgo * DAY).toISOString(),
    why: "REFUSED",
  });
  return certificateId;
};

describe("the retirement function", () => {
  it("on its schedule: retires what is due under the configured retention, keeps the rest, and saves where its pass ended", async () => {
    const due = await queued(31);
    const young = await queued(2);
    store.retirementCheckpoint = undefined;

    const run = await job(SCHEDULED, context);

    expect(run).toMatchObject({ dryRun: false, examined: 1, pass: "complete", items: [] });
    expect(run.counts).toMatchObject({ RETIRED: 1, LEFT: 0 });
    expect(registry.certificates.has(due)).toBe(false);
    expect(registry.certificates.has(young)).toBe(true);
    expect(store.retirementCheckpoint).toBeUndefined();
  });

  it("invoked by an operator: another retention, one CA, a dry run; answers each certificate and keeps no checkpoint", async () => {
    const ours = await queued(1);
    await queued(1, OTHER_CA);
    store.retirementCheckpoint = "a scheduled pass's";

    const run = await job({ dryRun: true, retentionDays: 0, caCertificateId: CA }, context);

    expect(run.items).toMatchObject([{ certificateId: ours, outcome: "WOULD_RETIRE" }]);
    expect(registry.certificates.has(ours)).toBe(true);
    expect(store.retirementCheckpoint).toBe("a scheduled pass's");
  });

  it("refuses a request it does not understand, naming each field", async () => {
    await expect(job({ retentionDays: -1, caCertificateId: "nope", extra: true }, context)).rejects.toThrow(
      /invalid retirement request: .*retentionDays.*caCertificateId/,
    );
  });

  it("starts its pass over from a checkpoint it cannot read", async () => {
    const due = await queued(40);
    store.retirementCheckpoint = "not a cursor of this queue";

    const run = await job(SCHEDULED, context);

    expect(run.counts.RETIRED).toBe(1);
    expect(registry.certificates.has(due)).toBe(false);
  });
});
