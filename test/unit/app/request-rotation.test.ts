import { describe, expect, it } from "vitest";
import {
  CAMPAIGN_PAGE_SIZE,
  type CampaignDeps,
  requestRotation,
  runCampaignPage,
  showCampaign,
  startCampaign,
} from "#app/request-rotation.js";
import { handleRotationMessage } from "#app/rotate-certificate.js";
import type { Device } from "#domain/device.js";
import { ConflictError, ValidationError } from "#domain/errors.js";
import type { BatchId, DeviceId } from "#domain/ids.js";
import { createRotationWorld, type RotationWorld, WINDOWS } from "#test/support/rotation-world.js";

const OPERATOR = "arn:aws:iam::123456789012:user/ops";
const PER_MINUTE = 100;

const requestDeps = (world: RotationWorld) => ({
  ledger: world.ledger,
  jobs: world.jobs,
  clock: world.clock,
  newId: world.deps.newId,
  windows: WINDOWS,
  perMinute: PER_MINUTE,
});

/** The table's devices by state or batch, as the ledger's index pages them. */
const pagedStore = (world: RotationWorld): CampaignDeps["store"] => ({
  async pageDevices(query, { limit, cursor }) {
    const all = [...world.ledger.devices.values()]
      .filter((device) =>
        "state" in query ? device.state === query.state : device.batchId === query.batchId,
      )
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId));
    const start = cursor ? Number(cursor) : 0;
    return {
      items: all.slice(start, start + limit),
      ...(start + limit < all.length ? { cursor: String(start + limit) } : {}),
    };
  },
});

const campaignDeps = (world: RotationWorld): CampaignDeps => ({
  ...requestDeps(world),
  campaigns: world.ledger,
  queue: world.queue,
  store: pagedStore(world),
  expiry: { inventory: { caCertificates: async () => [] } },
});

describe("an operator's rotation of one device", () => {
  it("records the request with who asked and tells the device through an IoT job", async () => {
    const world = await createRotationWorld();
    await world.activeDevice("sensor-1");

    const { rotation } = await requestRotation(requestDeps(world), {
      deviceId: "sensor-1" as DeviceId,
      actor: OPERATOR,
      reason: "key exposure drill",
      windows: { commitWithinSeconds: 30, graceSeconds: 5 },
    });

    expect(rotation).toMatchObject({
      state: "REQUESTED",
      requestedBy: OPERATOR,
      jobId: `fleetgate-rotate-${rotation.rotationId}`,
      windows: { commitWithinSeconds: 30, graceSeconds: 5 },
    });
    expect(world.jobs.jobs.get(rotation.jobId ?? "")).toMatchObject({
      deviceIds: ["sensor-1"],
      document: {
        operation: "fleetgate.rotate-certificate",
        rotationId: rotation.rotationId,
        commitWithinSeconds: 30,
      },
      perMinute: PER_MINUTE,
      inProgressMinutes: 11,
    });
    expect(world.ledger.events).toMatchObject([{ type: "ROTATION_REQUESTED", actor: OPERATOR }]);
  });

  it("is answered by the device's request with the operator's windows", async () => {
    const world = await createRotationWorld();
    const { certificateId } = await world.activeDevice("sensor-1");
    await requestRotation(requestDeps(world), {
      deviceId: "sensor-1" as DeviceId,
      actor: OPERATOR,
      windows: { commitWithinSeconds: 30 },
    });

    await handleRotationMessage(world.deps, {
      kind: "csr",
      deviceId: "sensor-1" as DeviceId,
      speaker: certificateId,
      csr: (await world.csr("sensor-1")).pem,
    });

    expect((await world.ledger.getDevice("sensor-1" as DeviceId))?.rotation).toMatchObject({
      state: "ISSUED",
      requestedBy: OPERATOR,
      commitBy: "2026-11-25T12:00:30.000Z",
    });
  });

  it("asked again before the device answered re-sends the same job, once", async () => {
    const world = await createRotationWorld();
    await world.activeDevice("sensor-1");
    const first = await requestRotation(requestDeps(world), {
      deviceId: "sensor-1" as DeviceId,
      actor: OPERATOR,
    });
    const again = await requestRotation(requestDeps(world), {
      deviceId: "sensor-1" as DeviceId,
      actor: OPERATOR,
    });
    expect(again.rotation).toEqual(first.rotation);
    expect(world.jobs.jobs.size).toBe(1);
    expect(world.ledger.historyOf("sensor-1")).toEqual(["ROTATION_REQUESTED"]);
  });

  it("is refused for a device not ACTIVE, and for windows longer than the deployment's", async () => {
    const world = await createRotationWorld();
    await world.activeDevice("sensor-1", { state: "SUSPENDED" });
    await world.activeDevice("sensor-2");
    await expect(
      requestRotation(requestDeps(world), { deviceId: "sensor-1" as DeviceId, actor: OPERATOR }),
    ).rejects.toThrow(ConflictError);
    await expect(
      requestRotation(requestDeps(world), {
        deviceId: "sensor-2" as DeviceId,
        actor: OPERATOR,
        windows: { graceSeconds: WINDOWS.graceSeconds + 1 },
      }),
    ).rejects.toThrow(ValidationError);
    expect(world.jobs.jobs.size).toBe(0);
  });
});

describe("a rotation campaign", () => {
  const lot = async (
    world: RotationWorld,
    count: number,
    batchId = "lot-1",
    overrides: Partial<Device> = {},
  ) => {
    for (let i = 0; i < count; i += 1)
      await world.activeDevice(`${batchId}-${String(i).padStart(3, "0")}`, {
        batchId: batchId as BatchId,
        ...overrides,
      });
  };

  it("over a batch asks its ACTIVE devices through one job per page, and skips the others with why", async () => {
    const world = await createRotationWorld();
    await lot(world, 2);
    await world.activeDevice("lot-1-suspended", { batchId: "lot-1" as BatchId, state: "SUSPENDED" });
    await lot(world, 1, "lot-2");
    const deps = campaignDeps(world);

    const campaign = await startCampaign(deps, {
      selector: { batchId: "lot-1" as BatchId },
      actor: OPERATOR,
    });
    const first = world.queue.pages[0];
    if (!first) throw new Error("no first page queued");
    const outcome = await runCampaignPage(deps, first.message);

    expect(outcome).toEqual({ requested: 2, skipped: 1, last: true });
    expect([...world.jobs.jobs.values()]).toMatchObject([
      {
        jobId: `fleetgate-rotate-${campaign.campaignId}-0`,
        deviceIds: ["lot-1-000", "lot-1-001"],
        document: { operation: "fleetgate.rotate-certificate", campaignId: campaign.campaignId },
      },
    ]);
    const view = await showCampaign(deps, campaign.campaignId, { limit: 10 });
    expect(view).toMatchObject({
      state: "DONE",
      campaign: { pagesDone: 1, requested: 2, skipped: 1 },
      devices: [
        { deviceId: "lot-1-000", rotation: "REQUESTED" },
        { deviceId: "lot-1-001", rotation: "REQUESTED" },
      ],
    });
    expect(world.ledger.pages.get(campaign.campaignId)?.[0]?.skipped).toEqual([
      { deviceId: "lot-1-suspended", code: "DEVICE_NOT_ACTIVE" },
    ]);
  });

  it("paces its pages within the IoT budget: the next page waits for this one's rollout", async () => {
    const world = await createRotationWorld();
    await lot(world, CAMPAIGN_PAGE_SIZE + 1);
    const deps = campaignDeps(world);
    const campaign = await startCampaign(deps, {
      selector: { batchId: "lot-1" as BatchId },
      actor: OPERATOR,
    });

    await runCampaignPage(deps, { campaignId: campaign.campaignId, page: 0 });

    // 100 devices at 100 a minute: the next page a minute later.
    expect(world.queue.pages.at(-1)).toMatchObject({ message: { page: 1 }, delaySeconds: 60 });
    const next = world.queue.pages.at(-1)?.message;
    if (!next) throw new Error("no next page");
    expect(await runCampaignPage(deps, next)).toEqual({ requested: 1, skipped: 0, last: true });
    expect((await world.ledger.getCampaign(campaign.campaignId))?.requested).toBe(CAMPAIGN_PAGE_SIZE + 1);
  });

  it("redelivered, asks the same devices with the same job and counts them once", async () => {
    const world = await createRotationWorld();
    await lot(world, 2);
    const deps = campaignDeps(world);
    const campaign = await startCampaign(deps, {
      selector: { batchId: "lot-1" as BatchId },
      actor: OPERATOR,
    });

    await runCampaignPage(deps, { campaignId: campaign.campaignId, page: 0 });
    await runCampaignPage(deps, { campaignId: campaign.campaignId, page: 0 });

    expect(world.jobs.jobs.size).toBe(1);
    expect((await world.ledger.getCampaign(campaign.campaignId))?.requested).toBe(2);
    expect(world.ledger.historyOf("lot-1-000")).toEqual(["ROTATION_REQUESTED"]);
  });

  it("over the certificates expiring within some days asks only those", async () => {
    const world = await createRotationWorld();
    await world.activeDevice("soon");
    await world.activeDevice("later");
    const soon = world.ledger.devices.get("soon");
    if (!soon?.certificate) throw new Error("no device");
    world.ledger.devices.set("soon", {
      ...soon,
      certificate: { ...soon.certificate, notAfter: "2026-12-01T00:00:00.000Z" },
    });
    const deps = campaignDeps(world);
    const campaign = await startCampaign(deps, { selector: { expiringWithinDays: 30 }, actor: OPERATOR });

    expect(await runCampaignPage(deps, { campaignId: campaign.campaignId, page: 0 })).toEqual({
      requested: 1,
      skipped: 0,
      last: true,
    });
    expect([...world.jobs.jobs.values()][0]?.deviceIds).toEqual(["soon"]);
  });
});
