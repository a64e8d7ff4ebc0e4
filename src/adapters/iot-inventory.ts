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
import { type IotPacer, pacedCall } from "./iot-budget.js";
import type { IotOperation } from "./iot-quotas.js";

/**
 * IoT Core's inventory over client-iot, for the reconciler, the expiry watch, the retirement job
 * and JITP's lookups. Every call takes its slot of the deployment's IoT budget through the pacer it
 * is given (as background work for all but JITP's), like every other IoT call of fleetgate.
 */
// A certificate principal: arn:<partition>:iot:<region>:<account>:cert/<id>. Others (Cognito) are not ours.
const CERTIFICATE_ARN = /^arn:[a-z-]+:iot:[a-z0-9-]+:\d{12}:cert\/([0-9a-f]{64})$/;

export const iotInventory = (iot: IoTClient, pacer?: IotPacer): IotInventory => {
  const send = <T>(operation: IotOperation, run: () => Promise<T>): Promise<T> =>
    pacedCall(pacer, operation, run);
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
