import type { AddDeviceResult, DeviceQuery, LifecycleStore, Page, WaitingSighting } from "#app/ports.js";
import type { BatchRecord, Recall, RecallFailure } from "#domain/batch.js";
import type { CertificateRecord, Device, DeviceEvent } from "#domain/device.js";
import { AlreadyExistsError, ConcurrentUpdateError, NotFoundError, ValidationError } from "#domain/errors.js";
import type { BatchId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";

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
    return moved;
  }

  async readProvisioningState(certificateId: string, deviceId: string | undefined) {
    const device = deviceId ? this.devices.get(deviceId) : undefined;
    const record = this.certificates.get(certificateId);
    return { ...(device ? { device } : {}), ...(record ? { record } : {}) };
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
    this.events.push(event);
  }

  async recordRefusal(record: CertificateRecord, event: DeviceEvent | undefined) {
    if (this.certificates.get(record.certificateId)?.outcome === "REJECTED") return false;
    this.certificates.set(record.certificateId, record);
    if (event) this.events.push(event);
    return true;
  }

  async recordWaiting(sighting: WaitingSighting) {
    const { at, ...rest } = sighting;
    const before = this.certificates.get(sighting.certificateId);
    if (before && before.outcome !== "WAITING") throw new ConcurrentUpdateError("certificate decided");
    const firstSeenAt = before?.outcome === "WAITING" ? before.firstSeenAt : at;
    const attempts = before?.outcome === "WAITING" ? before.attempts + 1 : 1;
    this.certificates.set(sighting.certificateId, { ...rest, firstSeenAt, lastSeenAt: at, attempts });
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
