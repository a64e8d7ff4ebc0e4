import type { AddDeviceResult, DeviceQuery, LifecycleStore, Page, WaitingSighting } from "#app/ports.js";
import type { BatchRecord, Recall, RecallFailure } from "#domain/batch.js";
import type { BoundCertificate, CertificateRecord, Device, DeviceEvent } from "#domain/device.js";
import { AlreadyExistsError, ConcurrentUpdateError, NotFoundError, ValidationError } from "#domain/errors.js";
import type { BatchId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import type { ReplacementApproval } from "#domain/replacement.js";
import { type RetirableCertificate, retirementAfter } from "#domain/retirement.js";

// Cursors are offsets bound to their query: opaque to callers, and refused for another query, as
// the DynamoDB store's are.
const paginate = <T>(
  all: readonly T[],
  query: string,
  { limit, cursor }: { limit: number; cursor?: string },
): Page<T> => {
  let start = 0;
  if (cursor !== undefined) {
    const [forQuery, offset] = Buffer.from(cursor, "base64url").toString("utf8").split("\n");
    start = Number.parseInt(offset ?? "", 10);
    if (forQuery !== query || !Number.isInteger(start) || start < 0)
      throw new ValidationError("invalid query", ["query.cursor: is not a cursor of this query"]);
  }
  const items = all.slice(start, start + limit);
  const next = Buffer.from(`${query}\n${start + limit}`).toString("base64url");
  return { items, ...(start + limit < all.length ? { cursor: next } : {}) };
};

/**
 * Pages of a queue whose items leave it as they are worked through: the cursor is the last key
 * read, as DynamoDB's is, so an item taken out does not shift the next page.
 */
const pageByKey = <T>(
  all: readonly T[],
  keyOf: (item: T) => string,
  query: string,
  { limit, cursor }: { limit: number; cursor?: string },
): Page<T> => {
  let after = "";
  if (cursor !== undefined) {
    const [forQuery, key] = Buffer.from(cursor, "base64url").toString("utf8").split("\n");
    if (forQuery !== query || !key)
      throw new ValidationError("invalid query", ["query.cursor: is not a cursor of this query"]);
    after = key;
  }
  const sorted = all.filter((item) => keyOf(item) > after).sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  const items = sorted.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    ...(sorted.length > limit && last
      ? { cursor: Buffer.from(`${query}\n${keyOf(last)}`).toString("base64url") }
      : {}),
  };
};

/** The lifecycle store in memory, with the same conditional semantics as the DynamoDB adapter. */
export class InMemoryLifecycleStore implements LifecycleStore {
  readonly devices = new Map<string, Device>();
  readonly events: DeviceEvent[] = [];
  readonly certificates = new Map<string, CertificateRecord>();
  readonly batches = new Map<string, BatchRecord>();

  async getDevice(deviceId: string) {
    return this.devices.get(deviceId);
  }

  async listEvents(deviceId: string) {
    return this.events.filter((event) => event.deviceId === deviceId);
  }

  async pageEvents(deviceId: string, options: { limit: number; cursor?: string; newestFirst?: boolean }) {
    const all = this.events.filter((event) => event.deviceId === deviceId);
    return paginate(
      options.newestFirst ? [...all].reverse() : all,
      `events ${deviceId} ${options.newestFirst}`,
      options,
    );
  }

  async pageDevices(query: DeviceQuery, options: { limit: number; cursor?: string }) {
    const all = [...this.devices.values()]
      .filter((device) =>
        "state" in query ? device.state === query.state : device.batchId === query.batchId,
      )
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId));
    return paginate(all, `devices ${JSON.stringify(query)}`, options);
  }

  async transition(device: Device, to: DeviceState, event: DeviceEvent) {
    this.expect(device);
    const moved: Device = { ...device, state: to, version: device.version + 1, updatedAt: event.at };
    this.devices.set(device.deviceId, moved);
    this.events.push(event);
    const why = retirementAfter(to);
    if (why && device.certificate)
      this.queueRetirement({
        certificateId: device.certificate.certificateId,
        deviceId: device.deviceId,
        caCertificateId: device.caCertificateId,
        since: event.at,
        why,
      });
    return moved;
  }

  async readProvisioningState(certificateId: string, deviceId: string | undefined) {
    const device = deviceId ? this.devices.get(deviceId) : undefined;
    const record = this.certificates.get(certificateId);
    const approval = deviceId ? this.approvals.get(deviceId) : undefined;
    return {
      ...(device ? { device } : {}),
      ...(record ? { record } : {}),
      ...(approval ? { approval } : {}),
    };
  }

  /** Pending approvals of replacement certificates, by device. */
  readonly approvals = new Map<string, ReplacementApproval>();
  /** The retirement queue, and when each certificate left it as deleted from IoT Core. */
  readonly retirements = new Map<string, RetirableCertificate & { retiredAt?: string; queued: boolean }>();
  retirementCheckpoint: string | undefined;

  private queueRetirement(certificate: RetirableCertificate): void {
    const before = this.retirements.get(certificate.certificateId);
    this.retirements.set(certificate.certificateId, {
      ...certificate,
      ...(before ? { since: before.since, why: before.why } : {}),
      ...(before?.retiredAt ? { retiredAt: before.retiredAt } : {}),
      queued: true,
    });
  }

  async commitReplacement(
    device: Device,
    certificate: BoundCertificate,
    approval: ReplacementApproval,
    event: DeviceEvent,
  ) {
    this.expect(device, approval.replaces);
    const pending = this.approvals.get(device.deviceId);
    if (
      pending?.certificateSha256 !== approval.certificateSha256 ||
      pending.approvedAt !== approval.approvedAt
    )
      throw new ConcurrentUpdateError("approval used or replaced");
    const recorded = this.certificates.get(certificate.certificateId);
    if (recorded && recorded.outcome !== "WAITING") throw new ConcurrentUpdateError("certificate recorded");
    const replaced: Device = { ...device, certificate, version: device.version + 1, updatedAt: event.at };
    this.devices.set(device.deviceId, replaced);
    this.approvals.delete(device.deviceId);
    this.certificates.set(certificate.certificateId, {
      certificateId: certificate.certificateId,
      outcome: "ASSIGNED",
      deviceId: device.deviceId,
      at: event.at,
    });
    this.queueRetirement({
      certificateId: approval.replaces,
      deviceId: device.deviceId,
      caCertificateId: device.caCertificateId,
      since: event.at,
      why: "REPLACED",
    });
    this.events.push(event);
    return replaced;
  }

  async putApproval(device: Device, approval: ReplacementApproval, event: DeviceEvent) {
    this.expect(device, approval.replaces);
    this.approvals.set(device.deviceId, approval);
    this.events.push(event);
  }

  async pageExpiredApprovals(before: string, options: { limit: number; cursor?: string }) {
    const expired = [...this.approvals.values()].filter((approval) => approval.expiresAt < before);
    return pageByKey(
      expired,
      (approval) => `${approval.expiresAt}#${approval.deviceId}`,
      "approvals",
      options,
    );
  }

  async expireApproval(approval: ReplacementApproval, event: DeviceEvent) {
    const pending = this.approvals.get(approval.deviceId);
    if (
      pending?.certificateSha256 !== approval.certificateSha256 ||
      pending.approvedAt !== approval.approvedAt
    )
      return false;
    this.approvals.delete(approval.deviceId);
    this.events.push(event);
    return true;
  }

  async pageRetirable(
    query: { readonly before: string; readonly caCertificateId?: string },
    options: { limit: number; cursor?: string },
  ) {
    const due = [...this.retirements.values()]
      .filter((entry) => entry.queued && entry.since < query.before)
      .filter(
        (entry) => query.caCertificateId === undefined || entry.caCertificateId === query.caCertificateId,
      )
      .map(({ retiredAt: _retired, queued: _queued, ...certificate }) => certificate);
    return pageByKey(due, (entry) => `${entry.since}#${entry.certificateId}`, "retirable", options);
  }

  async scheduleRetirement(certificate: RetirableCertificate) {
    this.queueRetirement(certificate);
  }

  async recordRetired(certificate: RetirableCertificate, at: string, event: DeviceEvent | undefined) {
    const entry = this.retirements.get(certificate.certificateId);
    if (!entry) return false;
    const first = entry.retiredAt === undefined;
    this.retirements.set(certificate.certificateId, {
      ...entry,
      retiredAt: entry.retiredAt ?? at,
      queued: false,
    });
    if (first && event) this.events.push(event);
    return first;
  }

  async readRetirementCheckpoint() {
    return this.retirementCheckpoint;
  }

  async saveRetirementCheckpoint(cursor: string | undefined) {
    this.retirementCheckpoint = cursor;
  }

  private expect(device: Device, certificateId?: string): void {
    const current = this.devices.get(device.deviceId);
    if (!current || current.version !== device.version || current.state !== device.state) {
      throw new ConcurrentUpdateError(`device ${device.deviceId} moved`);
    }
    if (certificateId && current.certificate?.certificateId !== certificateId)
      throw new ConcurrentUpdateError("other certificate");
  }

  async claim(device: Device, certificate: NonNullable<Device["certificate"]>, event: DeviceEvent) {
    this.expect(device);
    const recorded = this.certificates.get(certificate.certificateId);
    if (recorded && recorded.outcome !== "WAITING") throw new ConcurrentUpdateError("certificate recorded");
    const claimed: Device = {
      ...device,
      state: "PROVISIONING",
      certificate,
      version: device.version + 1,
      updatedAt: event.at,
    };
    this.devices.set(device.deviceId, claimed);
    this.certificates.set(certificate.certificateId, {
      certificateId: certificate.certificateId,
      outcome: "ASSIGNED",
      deviceId: device.deviceId,
      at: event.at,
    });
    this.events.push(event);
    return claimed;
  }

  async activate(device: Device, event: DeviceEvent) {
    this.expect(device, device.certificate?.certificateId);
    const active: Device = { ...device, state: "ACTIVE", version: device.version + 1, updatedAt: event.at };
    this.devices.set(device.deviceId, active);
    this.events.push(event);
    return active;
  }

  async release(device: Device, record: CertificateRecord, event: DeviceEvent) {
    this.expect(device, record.certificateId);
    const { certificate: _released, ...rest } = device;
    this.devices.set(device.deviceId, {
      ...rest,
      state: "ALLOWED",
      version: device.version + 1,
      updatedAt: event.at,
    });
    this.certificates.set(record.certificateId, record);
    this.queueRefused(record);
    this.events.push(event);
  }

  private queueRefused(record: CertificateRecord): void {
    // The record is written whole, as the DynamoDB store puts it: queued afresh.
    if (record.outcome === "REJECTED")
      this.retirements.set(record.certificateId, {
        certificateId: record.certificateId,
        ...(record.deviceId ? { deviceId: record.deviceId } : {}),
        ...(record.caCertificateId ? { caCertificateId: record.caCertificateId } : {}),
        since: record.at,
        why: "REFUSED",
        queued: true,
      });
  }

  async recordRefusal(record: CertificateRecord, event: DeviceEvent | undefined) {
    if (this.certificates.get(record.certificateId)?.outcome === "REJECTED") return false;
    this.certificates.set(record.certificateId, record);
    this.queueRefused(record);
    if (event) this.events.push(event);
    return true;
  }

  async recordWaiting(sighting: WaitingSighting, firstEvent: DeviceEvent | undefined) {
    const { at, ...rest } = sighting;
    const before = this.certificates.get(sighting.certificateId);
    if (before && before.outcome !== "WAITING") throw new ConcurrentUpdateError("certificate decided");
    const firstSeenAt = before?.outcome === "WAITING" ? before.firstSeenAt : at;
    const attempts = before?.outcome === "WAITING" ? before.attempts + 1 : 1;
    // As DynamoDB's update: a sighting that names no device keeps the one named before.
    const deviceId = rest.deviceId ?? before?.deviceId;
    this.certificates.set(sighting.certificateId, {
      ...rest,
      ...(deviceId ? { deviceId } : {}),
      firstSeenAt,
      lastSeenAt: at,
      attempts,
    });
    if (!before && firstEvent) this.events.push(firstEvent);
    return firstSeenAt;
  }

  async recordEvent(event: DeviceEvent) {
    this.events.push(event);
  }

  async getBatch(batchId: string) {
    return this.batches.get(batchId);
  }

  async createBatch(batch: BatchRecord) {
    if (this.batches.has(batch.batchId)) throw new AlreadyExistsError(`batch ${batch.batchId} exists`);
    this.batches.set(batch.batchId, batch);
  }

  async finishBatch(batch: BatchRecord) {
    if (!this.batches.has(batch.batchId)) throw new NotFoundError(`batch ${batch.batchId}`);
    this.batches.set(batch.batchId, batch);
  }

  async startRecall(batchId: BatchId, recall: Recall) {
    const batch = this.batches.get(batchId);
    if (!batch) throw new NotFoundError(`batch ${batchId}`);
    if (batch.recall) throw new AlreadyExistsError(`batch ${batchId} is already recalled`);
    this.batches.set(batchId, { ...batch, recall });
  }

  private readonly recallPages = new Map<string, { queued: Set<number>; done: Set<number> }>();

  async claimRecallPage(batchId: BatchId, page: number) {
    if (!this.batches.get(batchId)?.recall) return false;
    const pages = this.recallPages.get(batchId) ?? { queued: new Set<number>(), done: new Set<number>() };
    this.recallPages.set(batchId, pages);
    if (pages.queued.has(page)) return false;
    pages.queued.add(page);
    return true;
  }

  async recallPageDone(batchId: BatchId, page: number, last: boolean, failures: readonly RecallFailure[]) {
    const batch = this.batches.get(batchId);
    if (!batch?.recall) throw new NotFoundError(`batch ${batchId} has no recall`);
    const pages = this.recallPages.get(batchId) ?? { queued: new Set<number>(), done: new Set<number>() };
    if (pages.done.has(page)) return;
    pages.done.add(page);
    this.recallPages.set(batchId, pages);
    this.batches.set(batchId, {
      ...batch,
      recall: {
        ...batch.recall,
        pagesDone: pages.done.size,
        ...(last ? { lastPage: page } : {}),
        failures: [...(batch.recall.failures ?? []), ...failures],
      },
    });
  }

  async pageBatches(options: { limit: number; cursor?: string }) {
    const newestFirst = [...this.batches.values()].sort((a, b) =>
      b.registeredAt.localeCompare(a.registeredAt),
    );
    return paginate(newestFirst, "batches", options);
  }

  async addDevices(devices: readonly Device[]): Promise<AddDeviceResult[]> {
    return devices.map((device) => {
      const existing = this.devices.get(device.deviceId);
      if (!existing) {
        this.devices.set(device.deviceId, device);
        return { kind: "added" };
      }
      if (existing.batchId !== device.batchId)
        return { kind: "conflict", reason: `already registered in batch ${existing.batchId}` };
      if (existing.caCertificateId !== device.caCertificateId)
        return { kind: "conflict", reason: "registered under another CA" };
      if (JSON.stringify(existing.pins) !== JSON.stringify(device.pins))
        return { kind: "conflict", reason: "registered with different pins" };
      return { kind: "unchanged" };
    });
  }
}
