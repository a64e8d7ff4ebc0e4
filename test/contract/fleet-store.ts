import { describe, expect, it } from "vitest";
import type { ClaimRegistry, FleetLedger, LifecycleStore } from "#app/ports.js";
import type { ClaimBinding } from "#domain/claim.js";
import type { BoundCertificate, Device, DeviceEvent } from "#domain/device.js";
import { AlreadyExistsError } from "#domain/errors.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";

export interface FleetStores {
  readonly table: LifecycleStore;
  readonly fleet: FleetLedger & ClaimRegistry;
}

/**
 * What fleet provisioning's store promises, against the in-memory one the use cases are tested on
 * and against DynamoDB (moto): claims bound, listed and revoked; the hook's one read; the
 * reservations a connection confirms.
 */
export const fleetStoreContract = (name: string, makeStores: () => Promise<FleetStores>) => {
  let sequence = 0;
  const unique = (prefix: string) => {
    sequence += 1;
    return `${prefix}-${Date.now().toString(36)}-${sequence}`;
  };
  const hex = (prefix: string) =>
    unique(prefix)
      .replace(/[^0-9a-f]/g, "")
      .padEnd(64, "e")
      .slice(0, 64) as CertificateId;
  const at = (second: number) => new Date(Date.UTC(2026, 10, 25, 12, 0, second)).toISOString();
  const entry = (): Device => ({
    deviceId: unique("dev") as DeviceId,
    state: "ALLOWED",
    batchId: "lot-a" as BatchId,
    caCertificateId: "a".repeat(64) as CaCertificateId,
    attributes: {},
    pins: {},
    version: 1,
    createdAt: at(0),
    updatedAt: at(0),
  });
  const bound = (id: CertificateId, reservedUntil?: string): BoundCertificate => ({
    certificateId: id,
    certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${id}`,
    certificateSha256: "1".repeat(64),
    publicKeySha256: "2".repeat(64),
    notBefore: at(0),
    notAfter: at(59),
    ...(reservedUntil ? { reservedUntil } : {}),
  });
  const event = (device: Device, type: DeviceEvent["type"]): DeviceEvent => ({
    deviceId: device.deviceId,
    at: at(1),
    type,
    actor: "contract",
  });
  const claim = (second: number): ClaimBinding => {
    const claimCertificateId = hex("c");
    return {
      claimCertificateId,
      certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${claimCertificateId}`,
      batchIds: ["lot-a" as BatchId, "lot-b" as BatchId],
      createdAt: at(second),
      createdBy: "contract",
    };
  };

  describe(`${name}: claims`, () => {
    it("binds a claim once, reads it back, and revokes it once, keeping its record", async () => {
      const { fleet } = await makeStores();
      const bound = claim(1);
      await fleet.bindClaim(bound);
      await expect(fleet.bindClaim(bound)).rejects.toBeInstanceOf(AlreadyExistsError);
      expect(await fleet.getClaim(bound.claimCertificateId)).toEqual(bound);

      const revoked = { at: at(2), by: "contract", reason: "leaked" };
      expect(await fleet.revokeClaim(bound.claimCertificateId, revoked)).toBe(true);
      expect(await fleet.revokeClaim(bound.claimCertificateId, { ...revoked, reason: "again" })).toBe(false);
      expect(await fleet.getClaim(bound.claimCertificateId)).toEqual({ ...bound, revoked });
      expect(await fleet.revokeClaim(hex("none"), revoked)).toBe(false);
    });

    it("lists claims newest first, page by page", async () => {
      const { fleet } = await makeStores();
      const claims = [claim(3), claim(5), claim(4)];
      for (const one of claims) await fleet.bindClaim(one);
      const mine = new Set(claims.map((one) => one.claimCertificateId));
      const seen: ClaimBinding[] = [];
      let cursor: string | undefined;
      do {
        const page = await fleet.pageClaims({ limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.filter((item) => mine.has(item.claimCertificateId)));
        cursor = page.cursor;
      } while (cursor);
      expect(seen.map((one) => one.createdAt)).toEqual([at(5), at(4), at(3)]);
    });
  });

  describe(`${name}: the hook's read and the reservations`, () => {
    it("reads a claim and an allowlist entry together, and whichever exists alone", async () => {
      const { table, fleet } = await makeStores();
      const device = entry();
      await table.addDevices([device]);
      const bound = claim(1);
      await fleet.bindClaim(bound);
      expect(await fleet.readFleetState(bound.claimCertificateId, device.deviceId)).toEqual({
        claim: bound,
        device,
      });
      expect(await fleet.readFleetState(hex("none"), device.deviceId)).toEqual({ device });
      expect(await fleet.readFleetState(bound.claimCertificateId, "nobody" as DeviceId)).toEqual({
        claim: bound,
      });
    });

    it("finds the entries reserved for certificates that connect, until they are confirmed", async () => {
      const { table, fleet } = await makeStores();
      const [reserved, jitr] = [entry(), entry()];
      await table.addDevices([reserved, jitr]);
      const [fleetCertificate, jitrCertificate] = [hex("f"), hex("j")];
      const claimed = await table.claim(
        reserved,
        bound(fleetCertificate, at(59)),
        event(reserved, "PROVISIONING_STARTED"),
      );
      await table.claim(jitr, bound(jitrCertificate), event(jitr, "PROVISIONING_STARTED"));

      const found = await fleet.reservationsOf([fleetCertificate, jitrCertificate, hex("unknown")]);
      expect(found).toEqual([claimed]);
      expect(found[0]?.certificate?.reservedUntil).toBe(at(59));

      await table.activate(claimed, event(claimed, "ACTIVATED"));
      expect(await fleet.reservationsOf([fleetCertificate])).toEqual([]);
      expect(await fleet.reservationsOf([])).toEqual([]);
    });
  });
};
