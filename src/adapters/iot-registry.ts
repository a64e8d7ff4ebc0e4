import {
  AddThingToThingGroupCommand,
  AttachThingPrincipalCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteThingCommand,
  DescribeCACertificateCommand,
  DescribeCertificateCommand,
  DetachThingPrincipalCommand,
  type IoTClient,
  RegisterCertificateCommand,
  UpdateCertificateCommand,
  UpdateThingCommand,
} from "@aws-sdk/client-iot";
import type { CaDescription, CertificateDescription, DeviceRegistry } from "#app/ports.js";
import { certificateIdOf } from "#domain/certificate-names.js";
import { AlreadyExistsError, DependencyUnavailableError, NotFoundError } from "#domain/errors.js";
import { type CaCertificateId, type CertificateId, isCaCertificateId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { type IotPacer, pacedCall } from "./iot-budget.js";
import { jitpTemplateOf } from "./iot-cas.js";
import type { IotOperation } from "./iot-quotas.js";

/**
 * IoT Core's registry over client-iot. "Already exists" counts as done: every write is idempotent.
 * Each call first waits for its slot of the deployment's IoT budget, so a burst of devices queues
 * here instead of spending the account's quota on throttled calls; a call IoT Core throttles anyway
 * is reported to the budget (which slows down) and waits for a new slot. When no slot comes within
 * the work's window the pacer throws a DeferredError: the work is re-queued, not failed.
 */
export const iotRegistry = (iot: IoTClient, pacer?: IotPacer): DeviceRegistry => {
  const send = <T>(operation: IotOperation, run: () => Promise<T>): Promise<T> =>
    pacedCall(pacer, operation, run);
  return {
    async describeCertificate(certificateId) {
      const out = await send("DescribeCertificate", () =>
        iot.send(new DescribeCertificateCommand({ certificateId })),
      );
      const description = out.certificateDescription;
      if (!description?.certificatePem || !description.certificateArn || !description.status) {
        throw new DependencyUnavailableError(`DescribeCertificate ${certificateId}: incomplete answer`);
      }
      const caId = description.caCertificateId;
      const result: CertificateDescription = {
        certificateId: certificateId as CertificateId,
        certificateArn: description.certificateArn,
        status: description.status as CertificateStatus,
        pem: description.certificatePem,
        ...(caId && isCaCertificateId(caId) ? { caCertificateId: caId } : {}),
      };
      return result;
    },

    async describeCaCertificate(caCertificateId) {
      const out = await send("DescribeCACertificate", () =>
        iot.send(new DescribeCACertificateCommand({ certificateId: caCertificateId })),
      );
      const description = out.certificateDescription;
      if (!description?.certificatePem || !description.status) {
        throw new DependencyUnavailableError(`DescribeCACertificate ${caCertificateId}: incomplete answer`);
      }
      const result: CaDescription = {
        caCertificateId: caCertificateId as CaCertificateId,
        status: description.status === "ACTIVE" ? "ACTIVE" : "INACTIVE",
        pem: description.certificatePem,
        ...(description.autoRegistrationStatus
          ? { autoRegistration: description.autoRegistrationStatus }
          : {}),
        ...jitpTemplateOf(out.registrationConfig),
      };
      return result;
    },

    async createThing(thingName, attributes, thingTypeName) {
      const type = thingTypeName ? { thingTypeName } : {};
      try {
        await send("CreateThing", () =>
          iot.send(
            new CreateThingCommand({
              thingName,
              ...type,
              attributePayload: { attributes: { ...attributes } },
            }),
          ),
        );
      } catch (error) {
        if (!(error instanceof AlreadyExistsError)) throw error;
        // IoT Core says so when the Thing exists with other attributes (JITP made it): merge ours in.
        await send("UpdateThing", () =>
          iot.send(
            new UpdateThingCommand({
              thingName,
              ...type,
              attributePayload: { attributes: { ...attributes }, merge: true },
            }),
          ),
        );
      }
    },

    async addThingToGroup(thingGroupName, thingName) {
      await send("AddThingToThingGroup", () =>
        iot.send(new AddThingToThingGroupCommand({ thingGroupName, thingName })),
      );
    },

    async attachThingPrincipal(thingName, principal) {
      await send("AttachThingPrincipal", () =>
        iot.send(
          new AttachThingPrincipalCommand({ thingName, principal, thingPrincipalType: "EXCLUSIVE_THING" }),
        ),
      );
    },

    async registerCertificate(certificatePem, caCertificatePem) {
      try {
        const out = await send("RegisterCertificate", () =>
          iot.send(new RegisterCertificateCommand({ certificatePem, caCertificatePem, status: "INACTIVE" })),
        );
        if (!out.certificateId) throw new DependencyUnavailableError("RegisterCertificate returned no id");
        return out.certificateId as CertificateId;
      } catch (error) {
        if (!(error instanceof AlreadyExistsError)) throw error;
        // IoT Core's certificate id is the SHA-256 of the certificate's DER encoding.
        return certificateIdOf(certificatePem);
      }
    },

    async detachThingPrincipal(thingName, principal) {
      await ignoreNotFound(
        send("DetachThingPrincipal", () =>
          iot.send(new DetachThingPrincipalCommand({ thingName, principal })),
        ),
      );
    },

    async deleteCertificate(certificateId) {
      try {
        // forceDelete takes the certificate's own policy attachments with it (fleetgate attaches
        // none; someone else's would keep it forever); IoT Core still refuses an ACTIVE one, or
        // one a Thing holds.
        await send("DeleteCertificate", () =>
          iot.send(new DeleteCertificateCommand({ certificateId, forceDelete: true })),
        );
        return "deleted";
      } catch (error) {
        if (error instanceof NotFoundError) return "gone";
        const name = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).name : "";
        if (name === "DeleteConflictException") return "attached";
        if (name === "CertificateStateException") return "active";
        throw error;
      }
    },

    async deleteThing(thingName) {
      await ignoreNotFound(send("DeleteThing", () => iot.send(new DeleteThingCommand({ thingName }))));
    },

    async updateCertificateStatus(certificateId: CertificateId, newStatus) {
      await send("UpdateCertificate", () =>
        iot.send(new UpdateCertificateCommand({ certificateId, newStatus })),
      );
    },
  };
};

// Detaching or deleting what is already gone is done.
export const ignoreNotFound = async (work: Promise<unknown>): Promise<void> => {
  try {
    await work;
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
};

// A Thing or policy of that name exists: a redelivery, or a race with ourselves. Either way, done.
export const ignoreAlreadyExists = async (work: Promise<unknown>): Promise<void> => {
  try {
    await work;
  } catch (error) {
    if (!(error instanceof AlreadyExistsError)) throw error;
  }
};
