import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { ClaimRegistry, FleetLedger } from "#app/ports.js";
import type { ClaimBinding } from "#domain/claim.js";
import type { CertificateRecord, Device } from "#domain/device.js";
import { AlreadyExistsError, ConcurrentUpdateError } from "#domain/errors.js";
import type { CertificateId } from "#domain/ids.js";
import { call, toDomainError } from "../aws-errors.js";
import {
  ANY,
  certificateKey,
  decodeCursor,
  deviceKey,
  getAll,
  type Item,
  page,
  STATE_INDEX,
  stripKeys,
} from "./table.js";

/**
 * Fleet provisioning's items in the lifecycle table: a claim certificate's binding
 * (`CLAIM#<certificateId>` / `CLAIM`, listed newest first in the state index under `CLAIMS`),
 * read by the hook with the allowlist entry in one BatchGetItem; and the reservations a device's
 * first connection confirms, found through the certificates' records.
 */
export const claimKey = (claimCertificateId: string) => ({ pk: `CLAIM#${claimCertificateId}`, sk: "CLAIM" });
const CLAIMS_KEY = "CLAIMS";

const claimItem = (claim: ClaimBinding): Item => ({
  ...claimKey(claim.claimCertificateId),
  entity: "claim",
  ...claim,
  gsi1pk: CLAIMS_KEY,
  gsi1sk: `${claim.createdAt}#${claim.claimCertificateId}`,
});

export const fleetLedger = (db: DynamoDBDocumentClient, tableName: string): FleetLedger => ({
  async readFleetState(claimCertificateId, deviceId) {
    const items = await getAll(db, tableName, [claimKey(claimCertificateId), deviceKey(deviceId)]);
    const claim = items.find((item) => item.sk === "CLAIM");
    const device = items.find((item) => item.sk === "STATE");
    return {
      ...(claim ? { claim: stripKeys<ClaimBinding>(claim) } : {}),
      ...(device ? { device: stripKeys<Device>(device) } : {}),
    };
  },

  async reservationsOf(certificateIds) {
    if (certificateIds.length === 0) return [];
    const records = (await getAll(db, tableName, [...new Set(certificateIds)].map(certificateKey))).map(
      (item) => stripKeys<CertificateRecord>(item),
    );
    const assigned = records.flatMap((record) =>
      record.outcome === "ASSIGNED"
        ? [{ certificateId: record.certificateId, deviceId: record.deviceId }]
        : [],
    );
    if (assigned.length === 0) return [];
    const devices = (
      await getAll(
        db,
        tableName,
        assigned.map(({ deviceId }) => deviceKey(deviceId)),
      )
    ).map((item) => stripKeys<Device>(item));
    const wanted = new Set<CertificateId>(assigned.map(({ certificateId }) => certificateId));
    return devices.filter(
      (device) =>
        device.state === "PROVISIONING" &&
        device.certificate?.reservedUntil !== undefined &&
        wanted.has(device.certificate.certificateId),
    );
  },
});

export const claimRegistry = (db: DynamoDBDocumentClient, tableName: string): ClaimRegistry => ({
  async bindClaim(claim) {
    try {
      await db.send(
        new PutCommand({
          TableName: tableName,
          Item: claimItem(claim),
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
    } catch (error) {
      const mapped = toDomainError(error, "bindClaim");
      throw mapped instanceof ConcurrentUpdateError
        ? new AlreadyExistsError(`claim ${claim.claimCertificateId} is bound already`)
        : mapped;
    }
  },

  async getClaim(claimCertificateId) {
    const out = await call("GetItem", () =>
      db.send(
        new GetCommand({ TableName: tableName, Key: claimKey(claimCertificateId), ConsistentRead: true }),
      ),
    );
    return out.Item ? stripKeys<ClaimBinding>(out.Item) : undefined;
  },

  async revokeClaim(claimCertificateId, revoked) {
    try {
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: claimKey(claimCertificateId),
          UpdateExpression: "SET revoked = :revoked",
          ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(revoked)",
          ExpressionAttributeValues: { ":revoked": revoked },
        }),
      );
      return true;
    } catch (error) {
      const mapped = toDomainError(error, "revokeClaim");
      if (mapped instanceof ConcurrentUpdateError) return false;
      throw mapped;
    }
  },

  async pageClaims({ limit, cursor }) {
    const out = await call("Query", () =>
      db.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: STATE_INDEX,
          KeyConditionExpression: "gsi1pk = :claims",
          ExpressionAttributeValues: { ":claims": CLAIMS_KEY },
          ScanIndexForward: false,
          Limit: limit,
          ExclusiveStartKey: decodeCursor(cursor, {
            gsi1pk: CLAIMS_KEY,
            gsi1sk: ANY,
            pk: /^CLAIM#/,
            sk: "CLAIM",
          }),
        }),
      ),
    );
    return page(
      (out.Items ?? []).map((item) => stripKeys<ClaimBinding>(item)),
      out.LastEvaluatedKey,
    );
  },
});
