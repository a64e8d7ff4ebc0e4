import type { CaValidity, IotInventory, Page } from "#app/ports.js";
import { ThrottledError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { FakeRegistry } from "./fake-registry.js";

type Method = keyof IotInventory;

/**
 * IoT Core's inventory in memory, read from a FakeRegistry (its Things, groups, attachments and
 * certificates), with CA expiry dates of its own, a log of calls, and failures to inject per call.
 */
export class FakeInventory implements IotInventory {
  /** CA id -> when it expires (ISO 8601). */
  readonly caExpiry = new Map<string, string>();
  readonly calls: Method[] = [];
  private readonly failures: { method: Method; key?: string; error: Error }[] = [];

  constructor(readonly registry: FakeRegistry) {}

  /** The next call of `method` (for `key`, a Thing or certificate id, when given) throws `error`. */
  failNext(method: Method, error: Error = new ThrottledError(`${method}: throttled`), key?: string): void {
    this.failures.push({ method, error, ...(key ? { key } : {}) });
  }

  private enter(method: Method, key?: string): void {
    this.calls.push(method);
    const index = this.failures.findIndex(
      (failure) => failure.method === method && (failure.key === undefined || failure.key === key),
    );
    if (index >= 0) {
      const [failure] = this.failures.splice(index, 1);
      throw failure?.error;
    }
  }

  async pageThingsInGroup(
    thingGroupName: string,
    { limit, cursor }: { limit: number; cursor?: string },
  ): Promise<Page<DeviceId>> {
    this.enter("pageThingsInGroup");
    const names = [...this.registry.groups]
      .filter(([, groups]) => groups.has(thingGroupName))
      .map(([name]) => name)
      .sort();
    const start = cursor ? Number(cursor) : 0;
    const end = start + limit;
    return {
      items: names.slice(start, end) as DeviceId[],
      ...(end < names.length ? { cursor: String(end) } : {}),
    };
  }

  async thingCertificates(thingName: DeviceId): Promise<CertificateId[] | undefined> {
    this.enter("thingCertificates", thingName);
    if (!this.registry.things.has(thingName)) return undefined;
    return [...this.registry.thingAttachments]
      .filter((attachment) => attachment.startsWith(`${thingName}|`))
      .map((attachment) => attachment.split("/").at(-1) as CertificateId);
  }

  async certificateStatus(certificateId: CertificateId): Promise<CertificateStatus | undefined> {
    this.enter("certificateStatus", certificateId);
    return this.registry.certificates.get(certificateId)?.status;
  }

  async certificateThings(certificateArn: string): Promise<DeviceId[]> {
    this.enter("certificateThings", certificateArn);
    return [...this.registry.thingAttachments]
      .filter((attachment) => attachment.endsWith(`|${certificateArn}`))
      .map((attachment) => attachment.split("|")[0] as DeviceId);
  }

  async caCertificates(): Promise<CaValidity[]> {
    this.enter("caCertificates");
    return [...this.registry.cas.values()].map((ca) => ({
      caCertificateId: ca.caCertificateId,
      status: ca.status,
      notAfter: this.caExpiry.get(ca.caCertificateId) ?? "2099-01-01T00:00:00.000Z",
    }));
  }

  /** A Thing in the group with certificates attached, as provisioning leaves it. */
  placeThing(
    thingName: string,
    thingGroupName: string,
    ...certificates: [string, CertificateStatus][]
  ): void {
    this.registry.things.set(thingName, {});
    this.registry.groups.set(thingName, new Set([thingGroupName]));
    for (const [id, status] of certificates) {
      if (!this.registry.certificates.has(id))
        this.registry.certificates.set(id, { pem: "", status, caCertificateId: "c".repeat(64) as never });
      this.registry.thingAttachments.add(`${thingName}|${FakeRegistry.arn(id)}`);
    }
  }
}
