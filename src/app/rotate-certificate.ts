import { inspectCertificate } from "#domain/certificate.js";
import type { SubjectField } from "#domain/certificate-names.js";
import { judgeCertificateRequest } from "#domain/csr-checks.js";
import { bindCertificate, type Device, type DeviceEvent } from "#domain/device.js";
import { DependencyRejectedError, DependencyUnavailableError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import {
  type AcceptedRequest,
  type CommittedRotation,
  decideCertificateRequest,
  decideCommit,
  type IssuedRotation,
  issuedRotation,
  type RotationRejection,
  type RotationWindows,
  reject,
  timerFor,
} from "#domain/rotation.js";
import { afterLostRace } from "./lost-race.js";
import type {
  CertificateDescription,
  CertificateIssuer,
  Clock,
  DeviceMessages,
  DeviceRegistry,
  IssuedCertificate,
  RotationLedger,
} from "./ports.js";
import { revokeCertificate, setTimer, type TimerDeps } from "./rotation-timers.js";

/**
 * A device's side of a rotation, as its messages arrive (topic rule -> queue -> function): a
 * certificate signing request, then a commit over the new certificate's connection. Every step is
 * recorded before IoT Core is changed and is safe to run again: a redelivered message, or the device
 * sending the same request again after a lost answer, ends in the same state with one certificate.
 */
export interface RotationDeps extends TimerDeps {
  readonly ledger: RotationLedger;
  readonly registry: Pick<
    DeviceRegistry,
    "attachThingPrincipal" | "updateCertificateStatus" | "describeCertificate"
  >;
  readonly issuer: CertificateIssuer;
  readonly messages: DeviceMessages;
  readonly clock: Clock;
  /** A fresh rotation id. */
  readonly newId: () => string;
  /** The deployment's windows, for a rotation the device starts on its own. */
  readonly windows: RotationWindows;
  /** The subject field a device's certificates name it in. */
  readonly deviceIdField: SubjectField;
}

/** What the topic rule delivers: who spoke (principal()), as which device, and what it said. */
export type DeviceRotationMessage =
  | {
      readonly kind: "csr";
      readonly deviceId: DeviceId;
      readonly speaker: CertificateId;
      readonly csr: string;
    }
  | {
      readonly kind: "commit";
      readonly deviceId: DeviceId;
      readonly speaker: CertificateId;
      readonly rotationId?: string;
    };

export type RotationOutcome =
  | {
      readonly kind: "issued";
      readonly rotationId: string;
      readonly certificateId: CertificateId;
      readonly resumed: boolean;
    }
  | {
      readonly kind: "committed";
      readonly rotationId: string;
      readonly certificateId: CertificateId;
      readonly resumed: boolean;
    }
  | { readonly kind: "rejected"; readonly step: "csr" | "commit"; readonly rejection: RotationRejection };

/** The device's topics under its own subtree (<prefix>/<deviceId>/...). */
export const ROTATION_TOPICS = {
  csr: "rotation/csr",
  commit: "rotation/commit",
  csrAccepted: "rotation/csr/accepted",
  csrRejected: "rotation/csr/rejected",
  commitAccepted: "rotation/commit/accepted",
  commitRejected: "rotation/commit/rejected",
} as const;

const DEVICE_ACTOR = "device";
// Two messages of one device can race (a commit and a new request); a lost race is decided again.
const MAX_ATTEMPTS = 3;

export const handleRotationMessage = (
  deps: RotationDeps,
  message: DeviceRotationMessage,
): Promise<RotationOutcome> =>
  message.kind === "csr" ? handleCertificateRequest(deps, message) : handleCommit(deps, message);

const handleCertificateRequest = async (
  deps: RotationDeps,
  message: Extract<DeviceRotationMessage, { kind: "csr" }>,
): Promise<RotationOutcome> => {
  const verdict = await judgeCertificateRequest(message.csr, message.deviceId, deps.deviceIdField);
  // Issued once per message, kept across lost races: a retry must not issue a second certificate.
  let created: IssuedCertificate | undefined;
  for (let attempt = 1; ; attempt += 1) {
    const device = await deps.ledger.getDevice(message.deviceId);
    const now = deps.clock.now();
    const decision = decideCertificateRequest({
      deviceId: message.deviceId,
      device,
      speaker: message.speaker,
      verdict,
      now,
      windows: deps.windows,
      newRotationId: deps.newId(),
    });
    try {
      switch (decision.kind) {
        case "reject":
          return await refuse(deps, message, "csr", decision.rejection);
        case "resume":
          return await finishIssue(deps, decision.device, decision.rotation);
        case "issue": {
          created ??= await issue(deps, message.csr);
          if (!created) return await refuse(deps, message, "csr", reject("ISSUER_REFUSED"));
          const rotation = await recordIssue(
            deps,
            decision.device,
            decision.base,
            created,
            decision.request,
            now,
            decision.supersedes,
          );
          if (decision.supersedes) await revokeCertificate(deps, decision.supersedes.issued.certificateId);
          // Created INACTIVE a moment ago: no need to ask IoT Core.
          return await finishIssue(deps, decision.device, rotation, {
            pem: created.certificatePem,
            status: "INACTIVE",
          });
        }
      }
    } catch (error) {
      await afterLostRace(error, attempt, MAX_ATTEMPTS);
    }
  }
};

/** The issuer's certificate, INACTIVE; undefined when the issuer refuses the request for good. */
const issue = async (deps: RotationDeps, csr: string): Promise<IssuedCertificate | undefined> => {
  try {
    return await deps.issuer.issue(csr);
  } catch (error) {
    // Our policy passed it and the issuer's did not: the device's to fix, nothing of ours is wrong.
    if (error instanceof DependencyRejectedError) return undefined;
    throw error;
  }
};

const recordIssue = async (
  deps: RotationDeps,
  device: Device,
  base: Parameters<typeof issuedRotation>[0],
  created: IssuedCertificate,
  request: AcceptedRequest,
  now: Date,
  supersedes: IssuedRotation | undefined,
): Promise<IssuedRotation> => {
  const inspection = inspectCertificate(created.certificatePem);
  if (!inspection.ok)
    throw new DependencyUnavailableError(`the issuer's certificate does not parse: ${inspection.error}`);
  const rotation = issuedRotation(
    base,
    bindCertificate(created.certificateId, created.certificateArn, inspection.certificate.facts),
    request,
    now,
  );
  await deps.ledger.saveRotation(device, {
    rotation,
    assigned: created.certificateId,
    events: [
      event(deps, device, "CERTIFICATE_ISSUED", {
        actor: DEVICE_ACTOR,
        certificateId: created.certificateId,
        reason: `rotation ${rotation.rotationId}: commit over it by ${rotation.commitBy}${
          supersedes ? `; replaces the uncommitted ${supersedes.issued.certificateId}` : ""
        }`,
      }),
    ],
  });
  return rotation;
};

/**
 * The IoT steps of an issue, in the only safe order: the deadline's timer first (so that a
 * rotation whose steps never finish is rolled back), the attachment, activation last; then the
 * answer, with the certificate. Repeating them changes nothing.
 */
const finishIssue = async (
  deps: RotationDeps,
  device: Device,
  rotation: IssuedRotation,
  /** What the issue just answered; a resumed rotation asks IoT Core. */
  known?: Pick<CertificateDescription, "pem" | "status">,
): Promise<RotationOutcome> => {
  const { certificateId, certificateArn } = rotation.issued;
  await setTimer(deps, timerFor(device, rotation));
  const description = known ?? (await deps.registry.describeCertificate(certificateId));
  await deps.registry.attachThingPrincipal(device.deviceId, certificateArn);
  if (description.status !== "ACTIVE") await deps.registry.updateCertificateStatus(certificateId, "ACTIVE");
  await deps.messages.send(device.deviceId, ROTATION_TOPICS.csrAccepted, {
    rotationId: rotation.rotationId,
    certificateId,
    certificatePem: description.pem,
    commitBy: rotation.commitBy,
  });
  return { kind: "issued", rotationId: rotation.rotationId, certificateId, resumed: known === undefined };
};

const handleCommit = async (
  deps: RotationDeps,
  message: Extract<DeviceRotationMessage, { kind: "commit" }>,
): Promise<RotationOutcome> => {
  for (let attempt = 1; ; attempt += 1) {
    const device = await deps.ledger.getDevice(message.deviceId);
    const decision = decideCommit({
      deviceId: message.deviceId,
      device,
      speaker: message.speaker,
      now: deps.clock.now(),
      ...(message.rotationId !== undefined ? { rotationId: message.rotationId } : {}),
    });
    try {
      switch (decision.kind) {
        case "reject":
          return await refuse(deps, message, "commit", decision.rejection, decision.recorded);
        case "resume":
          return await finishCommit(deps, decision.device, decision.rotation, true);
        case "commit": {
          const { committed } = decision;
          // The grace period's timer first: the replaced certificate is revoked even if what follows fails.
          await setTimer(deps, timerFor(decision.device, committed));
          await deps.ledger.saveRotation(decision.device, {
            rotation: committed,
            certificate: committed.issued,
            events: [
              event(deps, decision.device, "ROTATION_COMMITTED", {
                actor: DEVICE_ACTOR,
                certificateId: committed.issued.certificateId,
                reason: `rotation ${committed.rotationId}: replaces ${committed.replaced.certificateId}, INACTIVE now, revoked at ${committed.revokeAt}`,
              }),
            ],
          });
          return await finishCommit(deps, decision.device, committed, false);
        }
      }
    } catch (error) {
      await afterLostRace(error, attempt, MAX_ATTEMPTS);
    }
  }
};

/** The replaced certificate goes INACTIVE (an operator may still reactivate it in the grace period). */
const finishCommit = async (
  deps: RotationDeps,
  device: Device,
  rotation: CommittedRotation,
  resumed: boolean,
): Promise<RotationOutcome> => {
  await deps.registry.updateCertificateStatus(rotation.replaced.certificateId, "INACTIVE");
  await deps.messages.send(device.deviceId, ROTATION_TOPICS.commitAccepted, {
    rotationId: rotation.rotationId,
    certificateId: rotation.issued.certificateId,
    replacedCertificateId: rotation.replaced.certificateId,
    revokeAt: rotation.revokeAt,
  });
  return {
    kind: "committed",
    rotationId: rotation.rotationId,
    certificateId: rotation.issued.certificateId,
    resumed,
  };
};

/** A refusal is answered on the device's rejected topic and revokes nothing. */
const refuse = async (
  deps: RotationDeps,
  message: DeviceRotationMessage,
  step: "csr" | "commit",
  rejection: RotationRejection,
  recorded = true,
): Promise<RotationOutcome> => {
  if (recorded)
    await deps.ledger.recordEvent(
      event(deps, { deviceId: message.deviceId }, "ROTATION_REJECTED", {
        actor: DEVICE_ACTOR,
        certificateId: message.speaker,
        reason: `${step}: ${rejection.code}: ${rejection.detail}`,
      }),
    );
  await deps.messages.send(
    message.deviceId,
    step === "csr" ? ROTATION_TOPICS.csrRejected : ROTATION_TOPICS.commitRejected,
    { code: rejection.code, message: rejection.detail },
  );
  return { kind: "rejected", step, rejection };
};

const event = (
  deps: { readonly clock: Clock },
  device: Pick<Device, "deviceId">,
  type: DeviceEvent["type"],
  details: Omit<DeviceEvent, "deviceId" | "at" | "type">,
): DeviceEvent => ({ deviceId: device.deviceId, at: deps.clock.now().toISOString(), type, ...details });

export { event as rotationEvent };
