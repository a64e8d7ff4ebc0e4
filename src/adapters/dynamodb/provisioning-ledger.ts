import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { ProvisioningLedger, ProvisioningState, WaitingSighting } from "#app/ports.js";
import type { CertificateRecord, Device, WaitingRecord } from "#domain/device.js";
import { ConcurrentUpdateError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import { call } from "../aws-errors.js";
import { approvalKey, toApproval, useUpApproval } from "./replacement-approvals.js";
import { queueRetirement, retirementAttributes } from "./retirement-ledger.js";
import {
  certificateKey,
  deviceKey,
  eventItem,
  getAll,
  type Item,
  stripKeys,
  tableWrites,
  transactOnce,
} from "./table.js";

/** What provisioning reads and writes: the allowlist entry and the certificate's record, together. */
export const provisioningLedger = (db: DynamoDBDocumentClient, tableName: string): ProvisioningLedger => {
  const { transact, moveDevice, putEvent } = tableWrites(db, tableName);
  return {
    async readProvisioningState(certificateId, deviceId): Promise<ProvisioningState> {
      const keys: Item[] = [
        certificateKey(certificateId),
        ...(deviceId ? [deviceKey(deviceId), approvalKey(deviceId)] : []),
      ];
      const items = await getAll(db, tableName, keys);
      const device = items.find((item) => item.sk === "STATE");
      const record = items.find((item) => item.sk === "CERT");
      const approval = items.find((item) => item.sk === "APPROVAL");
      return {
        ...(device ? { device: stripKeys<Device>(device) } : {}),
        ...(record ? { record: stripKeys<CertificateRecord>(record) } : {}),
        ...(approval ? { approval: toApproval(approval) } : {}),
      };
    },

    async claim(device, certificate, event) {
      const at = event.at;
      await transact("claim", [
        moveDevice(device, "PROVISIONING", { certificate, updatedAt: at }, []),
        assignCertificate(tableName, certificate.certificateId, device.deviceId, at),
        putEvent(event),
      ]);
      return { ...device, state: "PROVISIONING", certificate, version: device.version + 1, updatedAt: at };
    },

    async activate(device, event) {
      await transact("activate", [
        moveDevice(device, "ACTIVE", { updatedAt: event.at }, [], device.certificate?.certificateId),
        putEvent(event),
      ]);
      return { ...device, state: "ACTIVE", version: device.version + 1, updatedAt: event.at };
    },

    async release(device, record, event) {
      await transact("release", [
        moveDevice(device, "ALLOWED", { updatedAt: event.at }, ["certificate"], record.certificateId),
        { Put: { TableName: tableName, Item: refusedCertificateItem(record) } },
        putEvent(event),
      ]);
    },

    async recordRefusal(record, event) {
      // False: recorded by an earlier delivery, nothing new to say.
      return transactOnce(db, "recordRefusal", [
        {
          Put: {
            TableName: tableName,
            Item: refusedCertificateItem(record),
            ConditionExpression: "attribute_not_exists(pk) OR outcome <> :rejected",
            ExpressionAttributeValues: { ":rejected": "REJECTED" },
          },
        },
        ...(event ? [putEvent(event)] : []),
      ]);
    },

    async recordWaiting(sighting, firstEvent) {
      // A repeat, the usual case, is one conditional update; a first sighting fails it, and is
      // written with its event in one transaction, so a crash cannot record one without the other.
      try {
        return await countSighting(db, tableName, sighting);
      } catch (error) {
        if (!(error instanceof ConcurrentUpdateError)) throw error;
      }
      const { at, ...seen } = sighting;
      const first: WaitingRecord = { ...seen, firstSeenAt: at, lastSeenAt: at, attempts: 1 };
      const written = await transactOnce(db, "recordWaiting", [
        {
          Put: {
            TableName: tableName,
            Item: { ...certificateKey(sighting.certificateId), entity: "certificate", ...first },
            ConditionExpression: "attribute_not_exists(pk)",
          },
        },
        ...(firstEvent ? [putEvent(firstEvent)] : []),
      ]);
      // Another delivery wrote the first sighting meanwhile, or the certificate was decided.
      if (!written) throw new ConcurrentUpdateError(`certificate ${sighting.certificateId} moved`);
      return at;
    },

    async recordEvent(event) {
      await call("PutItem", () => db.send(new PutCommand({ TableName: tableName, Item: eventItem(event) })));
    },

    async commitReplacement(device, certificate, approval, event) {
      const at = event.at;
      await transact("replace", [
        moveDevice(device, device.state, { certificate, updatedAt: at }, [], approval.replaces),
        useUpApproval(tableName, approval),
        assignCertificate(tableName, certificate.certificateId, device.deviceId, at),
        queueRetirement(
          tableName,
          {
            certificateId: approval.replaces,
            deviceId: device.deviceId,
            caCertificateId: device.caCertificateId,
            since: at,
            why: "REPLACED",
          },
          { replacedBy: certificate.certificateId },
        ),
        putEvent(event),
      ]);
      return { ...device, certificate, version: device.version + 1, updatedAt: at };
    },
  };
};

/** One more sighting of a certificate already waiting; ConcurrentUpdateError if none or decided. */
const countSighting = async (
  db: DynamoDBDocumentClient,
  tableName: string,
  { at, certificateId, deviceId, caCertificateId, refusal }: WaitingSighting,
): Promise<string> => {
  const out = await call("UpdateItem", () =>
    db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: certificateKey(certificateId),
        UpdateExpression: `SET refusal = :refusal, caCertificateId = :ca, lastSeenAt = :at${deviceId ? ", deviceId = :device" : ""} ADD attempts :one`,
        ConditionExpression: "outcome = :waiting",
        ExpressionAttributeValues: {
          ":waiting": "WAITING",
          ":refusal": refusal,
          ":ca": caCertificateId,
          ":at": at,
          ":one": 1,
          ...(deviceId ? { ":device": deviceId } : {}),
        },
        ReturnValues: "ALL_NEW",
      }),
    ),
  );
  return String(out.Attributes?.firstSeenAt ?? at);
};

/** A refused certificate waits out its retention, then is deleted from IoT Core. */
const refusedRetirement = (record: CertificateRecord): Item =>
  record.outcome === "REJECTED"
    ? retirementAttributes({ certificateId: record.certificateId, since: record.at, why: "REFUSED" })
    : {};

/**
 * The certificate's record says which device it was given to; once only, but a certificate that
 * waited (for its manifest, its CA) is given like a new one.
 */
const assignCertificate = (
  tableName: string,
  certificateId: CertificateId,
  deviceId: DeviceId,
  at: string,
) => ({
  Put: {
    TableName: tableName,
    Item: {
      ...certificateKey(certificateId),
      entity: "certificate",
      certificateId,
      outcome: "ASSIGNED",
      deviceId,
      at,
    },
    ConditionExpression: "attribute_not_exists(pk) OR outcome = :waiting",
    ExpressionAttributeValues: { ":waiting": "WAITING" },
  },
});

/** A refused certificate's record, queued for retirement from when it was refused. */
const refusedCertificateItem = (record: CertificateRecord) => ({
  ...certificateKey(record.certificateId),
  entity: "certificate",
  ...record,
  ...refusedRetirement(record),
});
