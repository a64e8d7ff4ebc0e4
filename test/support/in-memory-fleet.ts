import type { ClaimRegistry, FleetLedger, Page } from "#app/ports.js";
import type { ClaimBinding } from "#domain/claim.js";
import type { Device } from "#domain/device.js";
import { AlreadyExistsError, ValidationError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import type { InMemoryLifecycleStore } from "./in-memory-store.js";

/**
 * Fleet provisioning's reads and the claim registry in memory, over the in-memory lifecycle store's
 * devices and certificate records, with the DynamoDB adapter's semantics (test/contract/fleet-store.ts).
 */
export class InMemoryFleetStore implements FleetLedger, ClaimRegistry {
  readonly claims = new Map<string, ClaimBinding>();

  constructor(readonly table: InMemoryLifecycleStore) {}

  async readFleetState(claimCertificateId: CertificateId, deviceId: DeviceId) {
    const claim = this.claims.get(claimCertificateId);
    const device = this.table.devices.get(deviceId);
    return { ...(claim ? { claim } : {}), ...(device ? { device } : {}) };
  }

  async reservationsOf(certificateIds: readonly CertificateId[]) {
    const wanted = new Set(certificateIds);
    const owners = new Set<string>();
    for (const id of wanted) {
      const record = this.table.certificates.get(id);
      if (record?.outcome === "ASSIGNED") owners.add(record.deviceId);
    }
    return [...owners].flatMap((deviceId): Device[] => {
      const device = this.table.devices.get(deviceId);
      return device?.state === "PROVISIONING" &&
        device.certificate?.reservedUntil !== undefined &&
        wanted.has(device.certificate.certificateId)
        ? [device]
        : [];
    });
  }

  async bindClaim(claim: ClaimBinding) {
    if (this.claims.has(claim.claimCertificateId))
      throw new AlreadyExistsError(`claim ${claim.claimCertificateId} is bound already`);
    this.claims.set(claim.claimCertificateId, claim);
  }

  async getClaim(claimCertificateId: CertificateId) {
    return this.claims.get(claimCertificateId);
  }

  async revokeClaim(claimCertificateId: CertificateId, revoked: NonNullable<ClaimBinding["revoked"]>) {
    const claim = this.claims.get(claimCertificateId);
    if (!claim || claim.revoked) return false;
    this.claims.set(claimCertificateId, { ...claim, revoked });
    return true;
  }

  async pageClaims({ limit, cursor }: { limit: number; cursor?: string }): Promise<Page<ClaimBinding>> {
    const newestFirst = [...this.claims.values()].sort((a, b) =>
      `${b.createdAt}#${b.claimCertificateId}`.localeCompare(`${a.createdAt}#${a.claimCertificateId}`),
    );
    const start = cursor === undefined ? 0 : Number.parseInt(Buffer.from(cursor, "base64url").toString(), 10);
    if (!Number.isInteger(start) || start < 0)
      throw new ValidationError("invalid query", ["query.cursor: is not a cursor of this query"]);
    const items = newestFirst.slice(start, start + limit);
    return {
      items,
      ...(start + limit < newestFirst.length
        ? { cursor: Buffer.from(String(start + limit)).toString("base64url") }
        : {}),
    };
  }
}
