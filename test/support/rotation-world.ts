import type {
  CertificateIssuer,
  DeviceJob,
  DeviceJobs,
  DeviceMessages,
  IssuedCertificate,
  Page,
  ParkedTimers,
  RotationChange,
  RotationLedger,
  TimerQueue,
} from "#app/ports.js";
import type { CampaignPageMessage, CampaignQueue, RotationCampaigns } from "#app/request-rotation.js";
import type { RotationDeps } from "#app/rotate-certificate.js";
import { certificateIdOf } from "#domain/certificate.js";
import type { Device, DeviceEvent } from "#domain/device.js";
import {
  AlreadyExistsError,
  ConcurrentUpdateError,
  DependencyRejectedError,
  NotFoundError,
} from "#domain/errors.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import type { RetirableCertificate } from "#domain/retirement.js";
import type { CampaignPage, RotationCampaign, RotationTimer } from "#domain/rotation.js";
import {
  createCa,
  createCertificateRequest,
  type Issuer,
  issueDeviceCertificate,
  issueFromCertificateRequest,
} from "#local/dev-pki.js";
import { FakeRegistry } from "./fake-registry.js";

/**
 * A rotation's world in memory: the table's devices, events and campaigns with the DynamoDB
 * adapter's conditions (every write conditional on the version read), IoT Core's registry, an
 * issuer that signs requests with a CA of its own (as IoT Core's CreateCertificateFromCsr does with
 * Amazon's), and recorders for what reaches devices, queues and jobs. Time is the test's.
 */
export class InMemoryRotations implements RotationLedger, RotationCampaigns, ParkedTimers {
  readonly devices = new Map<string, Device>();
  readonly events: DeviceEvent[] = [];
  readonly assigned = new Map<string, DeviceId>();
  readonly campaigns = new Map<string, RotationCampaign>();
  readonly pages = new Map<string, CampaignPage[]>();
  readonly parked: RotationTimer[] = [];
  /** The retirement queue: a certificate queued before keeps its first entry. */
  readonly retirements = new Map<string, RetirableCertificate>();
  /** Fails the next saveRotation with a lost race, after applying `meanwhile`. */
  raceNext?: (() => void) | undefined;

  async getDevice(deviceId: DeviceId) {
    return this.devices.get(deviceId);
  }

  async saveRotation(device: Device, change: RotationChange) {
    const race = this.raceNext;
    if (race) {
      this.raceNext = undefined;
      race();
    }
    if (this.devices.get(device.deviceId)?.version !== device.version)
      throw new ConcurrentUpdateError(`device ${device.deviceId} moved`);
    const at = change.events[0]?.at ?? device.updatedAt;
    const saved: Device = {
      ...device,
      rotation: change.rotation,
      ...(change.certificate ? { certificate: change.certificate } : {}),
      version: device.version + 1,
      updatedAt: at,
    };
    this.devices.set(device.deviceId, saved);
    this.events.push(...change.events);
    if (change.assigned) this.assigned.set(change.assigned, device.deviceId);
    if (change.retire && !this.retirements.has(change.retire.certificateId))
      this.retirements.set(change.retire.certificateId, change.retire);
    return saved;
  }

  async recordEvent(event: DeviceEvent) {
    this.events.push(event);
  }

  /** An operator's action on the device, as the device ledger moves it: conditional on the version. */
  async transition(device: Device, to: DeviceState, event: DeviceEvent) {
    if (this.devices.get(device.deviceId)?.version !== device.version)
      throw new ConcurrentUpdateError(`device ${device.deviceId} moved`);
    const moved: Device = { ...device, state: to, version: device.version + 1, updatedAt: event.at };
    this.devices.set(device.deviceId, moved);
    this.events.push(event);
    return moved;
  }

  historyOf(deviceId: string) {
    return this.events.filter((event) => event.deviceId === deviceId).map((event) => event.type);
  }

  async createCampaign(campaign: RotationCampaign) {
    if (this.campaigns.has(campaign.campaignId)) throw new AlreadyExistsError(campaign.campaignId);
    this.campaigns.set(campaign.campaignId, campaign);
  }

  async getCampaign(campaignId: string) {
    return this.campaigns.get(campaignId);
  }

  async recordPage(campaignId: string, page: CampaignPage, last: boolean) {
    const campaign = this.campaigns.get(campaignId);
    if (!campaign) throw new NotFoundError(campaignId);
    const pages = this.pages.get(campaignId) ?? [];
    if (pages.some((recorded) => recorded.page === page.page)) return;
    this.pages.set(
      campaignId,
      [...pages, page].sort((a, b) => a.page - b.page),
    );
    this.campaigns.set(campaignId, {
      ...campaign,
      pagesDone: campaign.pagesDone + 1,
      requested: campaign.requested + page.deviceIds.length,
      skipped: campaign.skipped + page.skipped.length,
      ...(last ? { lastPage: page.page } : {}),
    });
  }

  async pagePages(campaignId: string, { limit, cursor }: { limit: number; cursor?: string }) {
    const all = this.pages.get(campaignId) ?? [];
    const start = cursor ? Number(cursor) : 0;
    const page: Page<CampaignPage> = {
      items: all.slice(start, start + limit),
      ...(start + limit < all.length ? { cursor: String(start + limit) } : {}),
    };
    return page;
  }

  async park(timer: RotationTimer) {
    this.parked.push(timer);
  }

  async dueBefore(before: string, limit: number) {
    return this.parked
      .filter((timer) => timer.dueAt < before)
      .sort((a, b) => a.dueAt.localeCompare(b.dueAt))
      .slice(0, limit);
  }

  async unpark(timer: RotationTimer) {
    const index = this.parked.findIndex(
      (parked) =>
        parked.rotationId === timer.rotationId && parked.kind === timer.kind && parked.dueAt === timer.dueAt,
    );
    if (index >= 0) this.parked.splice(index, 1);
  }
}

/** IoT Core's CreateCertificateFromCsr: a certificate of the request's key, INACTIVE, in the registry. */
export class FakeIssuer implements CertificateIssuer {
  issued = 0;
  refuseNext = false;
  constructor(
    private readonly registry: FakeRegistry,
    private readonly ca: Issuer,
  ) {}

  async issue(csrPem: string): Promise<IssuedCertificate> {
    if (this.refuseNext) {
      this.refuseNext = false;
      throw new DependencyRejectedError("InvalidRequestException: CSR violates constraints");
    }
    const certificatePem = await issueFromCertificateRequest(this.ca, csrPem);
    const certificateId = certificateIdOf(certificatePem);
    this.registry.certificates.set(certificateId, {
      pem: certificatePem,
      status: "INACTIVE",
      caCertificateId: certificateIdOf(this.ca.pem) as string as CaCertificateId,
    });
    this.issued += 1;
    return { certificateId, certificateArn: FakeRegistry.arn(certificateId), certificatePem };
  }
}

export class RecordedMessages implements DeviceMessages {
  readonly sent: { deviceId: DeviceId; subtopic: string; payload: Record<string, unknown> }[] = [];
  async send(deviceId: DeviceId, subtopic: string, payload: object) {
    this.sent.push({ deviceId, subtopic, payload: payload as Record<string, unknown> });
  }
  last() {
    return this.sent.at(-1);
  }
}

export class RecordedQueue implements TimerQueue, CampaignQueue {
  readonly timers: { timer: RotationTimer; delaySeconds: number }[] = [];
  readonly pages: { message: CampaignPageMessage; delaySeconds: number }[] = [];
  async send(timer: RotationTimer, delaySeconds: number) {
    this.timers.push({ timer, delaySeconds });
  }
  async sendPage(message: CampaignPageMessage, delaySeconds: number) {
    this.pages.push({ message, delaySeconds });
  }
}

export class RecordedJobs implements DeviceJobs {
  readonly jobs = new Map<string, DeviceJob>();
  async createJob(job: DeviceJob) {
    if (!this.jobs.has(job.jobId)) this.jobs.set(job.jobId, job);
  }
}

export const WINDOWS = { commitWithinSeconds: 600, graceSeconds: 86_400 };

/** An ACTIVE device with its certificate from a factory CA, its Thing, and the deps to rotate it. */
export const createRotationWorld = async () => {
  let now = new Date("2026-11-25T12:00:00.000Z");
  const clock = { now: () => now };
  const registry = new FakeRegistry();
  const amazonCa = await createCa({ name: "Amazon test CA" });
  const factoryCa = await createCa({ name: "Factory test CA" });
  const ledger = new InMemoryRotations();
  const issuer = new FakeIssuer(registry, amazonCa);
  const messages = new RecordedMessages();
  const queue = new RecordedQueue();
  const jobs = new RecordedJobs();
  let ids = 0;
  const deps: RotationDeps & { readonly parkedTimers: InMemoryRotations } = {
    ledger,
    registry,
    issuer,
    messages,
    clock,
    newId: () => `r-${++ids}`,
    windows: WINDOWS,
    deviceIdField: "CN",
    timerQueue: queue,
    parkedTimers: ledger,
  };

  /** An ACTIVE device, as provisioning leaves it. */
  const activeDevice = async (deviceId: string, overrides: Partial<Device> = {}) => {
    const certificate = await issueDeviceCertificate(factoryCa, { deviceId });
    const certificateId = certificateIdOf(certificate.pem);
    registry.certificates.set(certificateId, {
      pem: certificate.pem,
      status: "ACTIVE",
      caCertificateId: certificateIdOf(factoryCa.pem) as string as CaCertificateId,
    });
    registry.things.set(deviceId, {});
    registry.thingAttachments.add(`${deviceId}|${FakeRegistry.arn(certificateId)}`);
    const { createHash } = await import("node:crypto");
    const device: Device = {
      deviceId: deviceId as DeviceId,
      state: "ACTIVE",
      batchId: "lot-1" as BatchId,
      caCertificateId: certificateIdOf(factoryCa.pem) as string as CaCertificateId,
      attributes: {},
      pins: {},
      certificate: {
        certificateId,
        certificateArn: FakeRegistry.arn(certificateId),
        certificateSha256: certificateId,
        publicKeySha256: createHash("sha256")
          .update(new Uint8Array(certificate.certificate.publicKey.rawData))
          .digest("hex"),
        notBefore: certificate.certificate.notBefore.toISOString(),
        notAfter: certificate.certificate.notAfter.toISOString(),
      },
      version: 1,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      ...overrides,
    };
    ledger.devices.set(deviceId, device);
    return { device, certificateId: certificateId as CertificateId, keys: certificate.keys };
  };

  return {
    deps,
    ledger,
    registry,
    issuer,
    messages,
    queue,
    jobs,
    clock,
    activeDevice,
    csr: (deviceId: string) => createCertificateRequest({ deviceId }),
    advance(ms: number) {
      now = new Date(now.getTime() + ms);
    },
    statusOf: (certificateId: string) => registry.certificates.get(certificateId)?.status,
  };
};

export type RotationWorld = Awaited<ReturnType<typeof createRotationWorld>>;
