import type { Device, DeviceEvent } from "#domain/device.js";
import { ConflictError, NotFoundError, ValidationError } from "#domain/errors.js";
import type { DeviceId } from "#domain/ids.js";
import {
  type CampaignPage,
  type CampaignSelector,
  decideRotationRequest,
  type RequestedRotation,
  type RotationCampaign,
  type RotationRejectionCode,
  type RotationWindows,
  rotationJobId,
} from "#domain/rotation.js";
import type { ExpiryDeps } from "./expiry-watch.js";
import { watchExpiry } from "./expiry-watch.js";
import { afterLostRace } from "./lost-race.js";
import type { Clock, DeviceJobs, DeviceLedger, Page, RotationLedger } from "./ports.js";

/**
 * Rotation asked for by an operator: one device (`fleetgate device rotate`), or a campaign over a
 * batch or over the certificates the expiry watch reports. The device is told through an IoT job;
 * it then rotates as it would on its own (rotate-certificate.ts), with the windows asked for here.
 */
export interface RequestDeps {
  readonly ledger: Pick<RotationLedger, "getDevice" | "saveRotation">;
  readonly jobs: DeviceJobs;
  readonly clock: Clock;
  readonly newId: () => string;
  /** The deployment's windows: the default, and the longest an operator may ask for. */
  readonly windows: RotationWindows;
  /** Devices told to rotate a minute, within the deployment's IoT budget. */
  readonly perMinute: number;
}

export interface RotationRequest {
  readonly deviceId: DeviceId;
  readonly actor: string;
  readonly reason?: string;
  readonly windows?: Partial<RotationWindows>;
}

/** What the job's document tells the device: rotate, on the topics README "Rotation" names. */
export const ROTATION_JOB_OPERATION = "fleetgate.rotate-certificate";

// Minutes a device may keep its execution IN_PROGRESS beyond its commit window: time to reconnect.
const JOB_SLACK_MINUTES = 10;
// IoT Jobs' rollout goes up to 1000 devices a minute.
const MAX_ROLLOUT_PER_MINUTE = 1000;

/** An operator asks one device to rotate: recorded REQUESTED, then its job is created. */
export const requestRotation = async (
  deps: RequestDeps,
  request: RotationRequest,
): Promise<{ readonly device: Device; readonly rotation: RequestedRotation }> => {
  const windows = windowsFor(deps, request.windows);
  for (let attempt = 1; ; attempt += 1) {
    const device = await deps.ledger.getDevice(request.deviceId);
    if (!device) throw new NotFoundError(`device ${request.deviceId} does not exist`);
    const decision = decideRotationRequest({
      device,
      deviceId: request.deviceId,
      now: deps.clock.now(),
      requestedBy: request.actor,
      windows,
      newRotationId: deps.newId(),
      jobIdFor: (rotationId) => rotationJobId(rotationId),
      ...(request.reason ? { reason: request.reason } : {}),
    });
    if (decision.kind === "reject")
      throw new ConflictError(`cannot rotate device ${request.deviceId}: ${decision.rejection.detail}`);
    try {
      const saved =
        decision.kind === "request"
          ? await deps.ledger.saveRotation(decision.device, {
              rotation: decision.rotation,
              events: [requestedEvent(decision.device.deviceId, decision.rotation)],
            })
          : decision.device;
      // Created after the record: a failure here leaves it REQUESTED, and asking again re-sends it.
      const { rotation } = decision;
      await createJob(
        deps,
        {
          jobId: rotation.jobId ?? rotationJobId(rotation.rotationId),
          windows: rotation.windows,
          reason: rotation.reason,
        },
        [decision.device.deviceId],
        { rotationId: rotation.rotationId },
      );
      return { device: saved, rotation: decision.rotation };
    } catch (error) {
      await afterLostRace(error, attempt, 3);
    }
  }
};

/** The asked windows, within the deployment's: asking for longer is refused, not shortened. */
const windowsFor = (deps: RequestDeps, asked: Partial<RotationWindows> | undefined): RotationWindows => {
  const windows = { ...deps.windows, ...asked };
  for (const name of ["commitWithinSeconds", "graceSeconds"] as const)
    if (windows[name] > deps.windows[name])
      throw new ValidationError(
        `${name} ${windows[name]} is longer than the deployment's ${deps.windows[name]}`,
      );
  return windows;
};

/** The job that tells devices to rotate; its document names the rotation or the campaign. */
const createJob = (
  deps: RequestDeps,
  job: { readonly jobId: string; readonly windows: RotationWindows; readonly reason?: string | undefined },
  deviceIds: readonly DeviceId[],
  document: { readonly rotationId: string } | { readonly campaignId: string },
) =>
  deps.jobs.createJob({
    jobId: job.jobId,
    deviceIds,
    document: {
      operation: ROTATION_JOB_OPERATION,
      ...document,
      commitWithinSeconds: job.windows.commitWithinSeconds,
    },
    description: `fleetgate: rotate the device certificate${job.reason ? ` (${job.reason})` : ""}`.slice(
      0,
      2028,
    ),
    perMinute: Math.min(MAX_ROLLOUT_PER_MINUTE, deps.perMinute),
    inProgressMinutes: Math.ceil(job.windows.commitWithinSeconds / 60) + JOB_SLACK_MINUTES,
  });

const requestedEvent = (deviceId: DeviceId, rotation: RequestedRotation): DeviceEvent => ({
  deviceId,
  at: rotation.requestedAt,
  type: "ROTATION_REQUESTED",
  actor: rotation.requestedBy,
  reason: [
    `rotation ${rotation.rotationId}`,
    rotation.campaignId ? `campaign ${rotation.campaignId}` : undefined,
    `job ${rotation.jobId}`,
    `commit within ${rotation.windows.commitWithinSeconds} s, grace ${rotation.windows.graceSeconds} s`,
    rotation.reason,
  ]
    .filter(Boolean)
    .join("; "),
});

/** Campaigns in the lifecycle table. */
export interface RotationCampaigns {
  /** AlreadyExistsError if the id is taken. */
  createCampaign(campaign: RotationCampaign): Promise<void>;
  getCampaign(campaignId: string): Promise<RotationCampaign | undefined>;
  /** Records a page and adds it to the campaign's counts, once: a page recorded before changes nothing. */
  recordPage(campaignId: string, page: CampaignPage, last: boolean): Promise<void>;
  /** The campaign's pages, in order. */
  pagePages(campaignId: string, options: { limit: number; cursor?: string }): Promise<Page<CampaignPage>>;
}

/** The queue the campaign's pages go through, each after the one before has had time to roll out. */
export interface CampaignQueue {
  sendPage(message: CampaignPageMessage, delaySeconds: number): Promise<void>;
}

export interface CampaignPageMessage {
  readonly campaignId: string;
  readonly page: number;
  /** Where the page starts in the selection; absent for the first. */
  readonly cursor?: string;
}

export interface CampaignDeps extends RequestDeps {
  readonly campaigns: RotationCampaigns;
  readonly queue: CampaignQueue;
  readonly store: Pick<DeviceLedger, "pageDevices">;
  readonly expiry: Omit<ExpiryDeps, "clock" | "store">;
}

export interface CampaignRequest {
  readonly selector: CampaignSelector;
  readonly actor: string;
  readonly reason?: string;
  readonly windows?: Partial<RotationWindows>;
}

/** Starts a campaign: records it and queues its first page; the pages chain from there. */
export const startCampaign = async (
  deps: CampaignDeps,
  request: CampaignRequest,
): Promise<RotationCampaign> => {
  const campaign: RotationCampaign = {
    campaignId: deps.newId(),
    selector: request.selector,
    windows: windowsFor(deps, request.windows),
    ...(request.reason ? { reason: request.reason } : {}),
    requestedBy: request.actor,
    createdAt: deps.clock.now().toISOString(),
    perMinute: Math.min(MAX_ROLLOUT_PER_MINUTE, deps.perMinute),
    pagesDone: 0,
    requested: 0,
    skipped: 0,
  };
  await deps.campaigns.createCampaign(campaign);
  await deps.queue.sendPage({ campaignId: campaign.campaignId, page: 0 }, 0);
  return campaign;
};

// Devices a page asks at most: an IoT job takes 100 targets.
export const CAMPAIGN_PAGE_SIZE = 100;

/**
 * One page of a campaign: asks the page's eligible devices to rotate (REQUESTED, with the campaign
 * and the page's job), creates the page's job, records the page, and queues the next one after the
 * time this page's rollout takes. A redelivered page asks the same devices again (the same job id:
 * nothing new) and counts once.
 */
export const runCampaignPage = async (
  deps: CampaignDeps,
  message: CampaignPageMessage,
): Promise<{ readonly requested: number; readonly skipped: number; readonly last: boolean }> => {
  const campaign = await deps.campaigns.getCampaign(message.campaignId);
  if (!campaign) throw new NotFoundError(`campaign ${message.campaignId} does not exist`);
  const selection = await select(deps, campaign, message.cursor);
  const jobId = rotationJobId(campaign.campaignId, message.page);
  const asked: DeviceId[] = [];
  const skipped: { deviceId: DeviceId; code: RotationRejectionCode }[] = [];
  for (const deviceId of selection.deviceIds) {
    const outcome = await askDevice(deps, campaign, deviceId, jobId);
    if (outcome === "asked") asked.push(deviceId);
    else skipped.push({ deviceId, code: outcome });
  }
  if (asked.length > 0)
    await createJob(deps, { jobId, windows: campaign.windows, reason: campaign.reason }, asked, {
      campaignId: campaign.campaignId,
    });
  const last = selection.cursor === undefined;
  await deps.campaigns.recordPage(
    campaign.campaignId,
    {
      page: message.page,
      ...(asked.length > 0 ? { jobId } : {}),
      deviceIds: asked,
      skipped,
      at: deps.clock.now().toISOString(),
    },
    last,
  );
  if (selection.cursor !== undefined)
    await deps.queue.sendPage(
      { campaignId: campaign.campaignId, page: message.page + 1, cursor: selection.cursor },
      Math.min(900, Math.ceil((asked.length / campaign.perMinute) * 60)),
    );
  return { requested: asked.length, skipped: skipped.length, last };
};

/** A page of the campaign's selection: the batch's devices, or those the expiry watch reports. */
const select = async (
  deps: CampaignDeps,
  campaign: RotationCampaign,
  cursor: string | undefined,
): Promise<{ readonly deviceIds: readonly DeviceId[]; readonly cursor?: string }> => {
  const { selector } = campaign;
  if ("batchId" in selector) {
    const page = await deps.store.pageDevices(
      { batchId: selector.batchId },
      { limit: CAMPAIGN_PAGE_SIZE, ...(cursor ? { cursor } : {}) },
    );
    return {
      deviceIds: page.items.map((device) => device.deviceId),
      ...(page.cursor ? { cursor: page.cursor } : {}),
    };
  }
  const report = await watchExpiry(
    { ...deps.expiry, store: deps.store, clock: deps.clock },
    { deviceDays: selector.expiringWithinDays, limit: CAMPAIGN_PAGE_SIZE, ...(cursor ? { cursor } : {}) },
  );
  return {
    deviceIds: report.devices.map((device) => device.deviceId),
    ...(report.cursor ? { cursor: report.cursor } : {}),
  };
};

const askDevice = async (
  deps: CampaignDeps,
  campaign: RotationCampaign,
  deviceId: DeviceId,
  jobId: string,
): Promise<"asked" | RotationRejectionCode> => {
  for (let attempt = 1; ; attempt += 1) {
    const device = await deps.ledger.getDevice(deviceId);
    const decision = decideRotationRequest({
      device,
      deviceId,
      now: deps.clock.now(),
      requestedBy: campaign.requestedBy,
      windows: campaign.windows,
      newRotationId: deps.newId(),
      jobIdFor: () => jobId,
      campaignId: campaign.campaignId,
      ...(campaign.reason ? { reason: campaign.reason } : {}),
    });
    if (decision.kind === "reject") return decision.rejection.code;
    if (decision.kind === "requested-before") return "asked";
    try {
      await deps.ledger.saveRotation(decision.device, {
        rotation: decision.rotation,
        events: [requestedEvent(deviceId, decision.rotation)],
      });
      return "asked";
    } catch (error) {
      await afterLostRace(error, attempt, 3);
    }
  }
};

export interface CampaignView {
  readonly campaign: RotationCampaign;
  readonly state: "RUNNING" | "DONE";
  /** Each asked device's rotation now, page by page. */
  readonly devices: readonly CampaignDeviceProgress[];
  readonly cursor?: string;
}

export interface CampaignDeviceProgress {
  readonly deviceId: DeviceId;
  readonly page: number;
  /** The device's rotation of this campaign now; SUPERSEDED when another rotation has run since. */
  readonly rotation:
    | RequestedRotation["state"]
    | "ISSUED"
    | "COMMITTED"
    | "COMPLETED"
    | "ROLLED_BACK"
    | "SUPERSEDED";
  readonly certificateId?: string;
  readonly at?: string;
}

/** A campaign, and the progress of the devices of a few of its pages. */
export const showCampaign = async (
  deps: Pick<CampaignDeps, "campaigns" | "ledger">,
  campaignId: string,
  options: { readonly limit: number; readonly cursor?: string },
): Promise<CampaignView> => {
  const campaign = await deps.campaigns.getCampaign(campaignId);
  if (!campaign) throw new NotFoundError(`campaign ${campaignId} does not exist`);
  const pages = await deps.campaigns.pagePages(campaignId, options);
  const devices: CampaignDeviceProgress[] = [];
  for (const page of pages.items)
    for (const deviceId of page.deviceIds) {
      const device = await deps.ledger.getDevice(deviceId);
      const rotation = device?.rotation;
      devices.push(
        rotation?.campaignId === campaignId
          ? {
              deviceId,
              page: page.page,
              rotation: rotation.state,
              ...("issued" in rotation && rotation.issued
                ? { certificateId: rotation.issued.certificateId }
                : {}),
              ...(device ? { at: device.updatedAt } : {}),
            }
          : { deviceId, page: page.page, rotation: "SUPERSEDED" },
      );
    }
  return {
    campaign,
    state: campaign.lastPage === undefined ? "RUNNING" : "DONE",
    devices,
    ...(pages.cursor ? { cursor: pages.cursor } : {}),
  };
};
