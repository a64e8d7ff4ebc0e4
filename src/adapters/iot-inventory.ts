import { X509Certificate } from "node:crypto";
import {
  DescribeCACertificateCommand,
  DescribeCertificateCommand,
  type IoTClient,
  ListCACertificatesCommand,
  ListPrincipalThingsCommand,
  ListThingPrincipalsCommand,
  ListThingsInThingGroupCommand,
} from "@aws-sdk/client-iot";
import type { CaValidity, IotInventory } from "#app/ports.js";
import { DependencyUnavailableError, NotFoundError } from "#domain/errors.js";
import { type CaCertificateId, type CertificateId, type DeviceId, isCertificateId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { call } from "./aws-errors.js";
import { type RateLimiter, tokenBucket } from "./rate-limiter.js";

/**
 * IoT Core's inventory over client-iot, for the reconciler and the expiry watch. Every call first
 * waits for its operation's token bucket at `share` of the account's quota, as provisioning's do.
 */
// IoT Core's default per-account rate for these reads (TPS), the lowest of the published ones.
export const INVENTORY_QUOTAS = {
  DescribeCertificate: 10,
  DescribeCACertificate: 10,
  ListThingsInThingGroup: 10,
  ListThingPrincipals: 10,
  ListPrincipalThings: 10,
  ListCACertificates: 10,
} as const;

export type InventoryOperation = keyof typeof INVENTORY_QUOTAS;

export const inventoryRateLimiters = (share: number): Record<InventoryOperation, RateLimiter> =>
  Object.fromEntries(
    Object.entries(INVENTORY_QUOTAS).map(([operation, quota]) => [operation, tokenBucket(quota * share)]),
  ) as Record<InventoryOperation, RateLimiter>;

// A certificate principal: arn:<partition>:iot:<region>:<account>:cert/<id>. Others (Cognito) are not ours.
const CERTIFICATE_ARN = /^arn:[a-z-]+:iot:[a-z0-9-]+:\d{12}:cert\/([0-9a-f]{64})$/;

export const iotInventory = (
  iot: IoTClient,
  limiters?: Record<InventoryOperation, RateLimiter>,
): IotInventory => {
  const send = async <T>(operation: InventoryOperation, run: () => Promise<T>): Promise<T> => {
    await limiters?.[operation].acquire();
    return call(operation, run);
  };
  const absentIfNotFound = async <T>(work: Promise<T>): Promise<T | undefined> => {
    try {
      return await work;
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  };
  return {
    async pageThingsInGroup(thingGroupName, { limit, cursor }) {
      const out = await send("ListThingsInThingGroup", () =>
        iot.send(
          new ListThingsInThingGroupCommand({
            thingGroupName,
            maxResults: Math.min(limit, 250),
            ...(cursor ? { nextToken: cursor } : {}),
          }),
        ),
      );
      return {
        items: (out.things ?? []) as DeviceId[],
        ...(out.nextToken ? { cursor: out.nextToken } : {}),
      };
    },

    async thingCertificates(thingName) {
      const ids: CertificateId[] = [];
      let nextToken: string | undefined;
      do {
        const out = await absentIfNotFound(
          send("ListThingPrincipals", () =>
            iot.send(
              new ListThingPrincipalsCommand({
                thingName,
                maxResults: 250,
                ...(nextToken ? { nextToken } : {}),
              }),
            ),
          ),
        );
        if (!out) return undefined;
        for (const principal of out.principals ?? []) {
          const id = CERTIFICATE_ARN.exec(principal)?.[1];
          if (id && isCertificateId(id)) ids.push(id);
        }
        nextToken = out.nextToken;
      } while (nextToken);
      return ids;
    },

    async certificateStatus(certificateId) {
      const out = await absentIfNotFound(
        send("DescribeCertificate", () => iot.send(new DescribeCertificateCommand({ certificateId }))),
      );
      if (!out) return undefined;
      const status = out.certificateDescription?.status;
      if (!status) throw new DependencyUnavailableError(`DescribeCertificate ${certificateId}: no status`);
      return status as CertificateStatus;
    },

    async certificateThings(certificateArn) {
      const things: DeviceId[] = [];
      let nextToken: string | undefined;
      do {
        const out = await absentIfNotFound(
          send("ListPrincipalThings", () =>
            iot.send(
              new ListPrincipalThingsCommand({
                principal: certificateArn,
                maxResults: 250,
                ...(nextToken ? { nextToken } : {}),
              }),
            ),
          ),
        );
        if (!out) return [];
        things.push(...((out.things ?? []) as DeviceId[]));
        nextToken = out.nextToken;
      } while (nextToken);
      return things;
    },

    async caCertificates() {
      const cas: CaValidity[] = [];
      let marker: string | undefined;
      do {
        const out = await send("ListCACertificates", () =>
          iot.send(new ListCACertificatesCommand({ pageSize: 250, ...(marker ? { marker } : {}) })),
        );
        for (const listed of out.certificates ?? []) {
          if (!listed.certificateId) continue;
          const id = listed.certificateId as CaCertificateId;
          const described = await absentIfNotFound(
            send("DescribeCACertificate", () =>
              iot.send(new DescribeCACertificateCommand({ certificateId: id })),
            ),
          );
          // Deleted between the listing and the description: no longer a CA of the account.
          const description = described?.certificateDescription;
          if (!description) continue;
          const notAfter = notAfterOf(description.certificatePem, description.validity?.notAfter, id);
          cas.push({
            caCertificateId: id,
            status: description.status === "ACTIVE" ? "ACTIVE" : "INACTIVE",
            notAfter: notAfter.toISOString(),
          });
        }
        marker = out.nextMarker;
      } while (marker);
      return cas;
    },
  };
};

/** When a CA expires: read from the certificate itself (Node's parser), else as IoT Core reports it. */
const notAfterOf = (pem: string | undefined, reported: Date | undefined, id: string): Date => {
  if (pem) return new Date(new X509Certificate(pem).validTo);
  if (reported) return reported;
  throw new DependencyUnavailableError(`DescribeCACertificate ${id}: no certificate and no validity`);
};
