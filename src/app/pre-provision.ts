import { inspectCertificate } from "#domain/certificate.js";
import { type CertificatePolicy, checkCertificateItself } from "#domain/certificate-checks.js";
import { bindCertificate, type Device, type DeviceEvent } from "#domain/device.js";
import { decideFleetProvisioning, type FleetDecision, type FleetFacts } from "#domain/fleet-decision.js";
import { type CertificateId, type DeviceId, isDeviceId } from "#domain/ids.js";
import { DEVICE_ID_PARAMETER, entryParameters } from "#domain/provisioning-template.js";
import { isSecurityRefusal, type Refusal, refuse } from "#domain/refusal.js";
import { describeIfAny } from "./certificate-description.js";
import { afterLostRace } from "./lost-race.js";
import type { Clock, DeviceRegistry, FleetLedger, ProvisioningLedger } from "./ports.js";

export interface PreProvisioningDeps {
  readonly fleet: Pick<FleetLedger, "readFleetState">;
  readonly store: Pick<ProvisioningLedger, "claim" | "release" | "recordRefusal" | "recordEvent">;
  /** Asked only about the certificate of an expired reservation. */
  readonly registry: Pick<DeviceRegistry, "describeCertificate">;
  readonly clock: Clock;
  readonly certificatePolicy: Pick<CertificatePolicy, "clockSkewMs">;
  /** How long an allowed certificate has to connect first: IoT Core's ownership token lifetime. */
  readonly reservationMs: number;
  /** What deciding may take. IoT Core denies a hook that answers after 5 s; this stays well below. */
  readonly budgetMs: number;
}

/** IoT Core's question, read at the edge: who asks, with which new certificate, naming whom. */
export interface ProvisioningRequest {
  readonly claimCertificateId: CertificateId;
  readonly certificateId: CertificateId;
  readonly certificateArn: string;
  readonly certificatePem: string;
  readonly parameters: Readonly<Record<string, string>>;
}

export type PreProvisioningOutcome =
  | {
      readonly kind: "allowed";
      readonly certificateId: CertificateId;
      readonly deviceId: DeviceId;
      /** The template parameters fleetgate sets, whatever the device sent. */
      readonly parameterOverrides: Readonly<Record<string, string>>;
      /** True when this certificate held the reservation already (IoT Core asked again). */
      readonly again: boolean;
      /** The certificate whose expired reservation was given back first. */
      readonly released?: CertificateId;
    }
  | {
      readonly kind: "denied";
      readonly certificateId: CertificateId;
      readonly deviceId?: DeviceId;
      readonly refusal: Refusal;
      readonly security: boolean;
      /** Whether the refusal reached the lifecycle table (it is logged either way). */
      readonly recorded: boolean;
    }
  | {
      /** No decision in time, or a failure of ours: denied, never a verdict; the device may retry. */
      readonly kind: "unavailable";
      readonly certificateId: CertificateId;
      readonly deviceId?: DeviceId;
      readonly why: string;
      readonly recorded: boolean;
    };

const ACTOR = "fleet-provisioning";
// A write begun within the budget is waited for a little longer: its outcome decides the answer,
// and answering "no" while a reservation lands would leave the identity held by a dead certificate.
const WRITE_GRACE_MS = 1000;
// Recording why a request could not be decided gets what is left of IoT Core's 5 s, at most this.
const RECORD_MS = 500;
// Two requests for one identity can race; a lost race is read and decided again, a few times at most.
const MAX_ATTEMPTS = 3;

/** The hook's own deadline passed before a dependency answered. */
export class DeadlineExceededError extends Error {
  override readonly name = "DeadlineExceededError";
}

/** `work`, or a DeadlineExceededError at `deadline` (epoch ms). The work itself runs on. */
const within = <T>(work: Promise<T>, deadline: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DeadlineExceededError(`${what}: no answer before the hook's deadline`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
};

interface Deadlines {
  /** Reads and the decision. */
  readonly decide: number;
  /** A write begun before `decide`. */
  readonly write: number;
}

/**
 * Answers IoT Core's pre-provisioning hook from the allowlist. Fails closed: whatever is not a
 * decision in time (an error, a slow dependency) denies, recorded in the device's history when it
 * can be. A denial revokes nothing: IoT Core never activates a denied certificate.
 */
export const preProvision = async (
  deps: PreProvisioningDeps,
  request: ProvisioningRequest,
): Promise<PreProvisioningOutcome> => {
  const decide = Date.now() + deps.budgetMs;
  const named = request.parameters[DEVICE_ID_PARAMETER];
  const deviceId = named !== undefined && isDeviceId(named) ? named : undefined;
  try {
    return await decideRequest(deps, request, deviceId, { decide, write: decide + WRITE_GRACE_MS });
  } catch (error) {
    const why =
      error instanceof DeadlineExceededError
        ? `${error.message} (${deps.budgetMs} ms)`
        : `${(error as Error).name}: ${(error as Error).message}`;
    const recorded =
      deviceId !== undefined &&
      (await attempt(
        deps.store.recordEvent(
          deviceEvent(deps, deviceId, "PROVISIONING_UNAVAILABLE", {
            certificateId: request.certificateId,
            reason: `denied, no decision: ${why}`,
          }),
        ),
        Date.now() + RECORD_MS,
      ));
    return {
      kind: "unavailable",
      certificateId: request.certificateId,
      ...(deviceId ? { deviceId } : {}),
      why,
      recorded,
    };
  }
};

const decideRequest = async (
  deps: PreProvisioningDeps,
  request: ProvisioningRequest,
  deviceId: DeviceId | undefined,
  deadlines: Deadlines,
): Promise<PreProvisioningOutcome> => {
  if (!deviceId) {
    const given = request.parameters[DEVICE_ID_PARAMETER];
    const detail =
      given === undefined
        ? `no ${DEVICE_ID_PARAMETER} parameter`
        : `${DEVICE_ID_PARAMETER}=${JSON.stringify(given.slice(0, 160))} is not a Thing name`;
    return deny(deps, request, undefined, refuse("PROVISIONING_PARAMETERS_INVALID", detail), deadlines);
  }
  const certificate = judgeCertificate(deps, request.certificatePem);
  for (let attemptNo = 1; ; attemptNo += 1) {
    const state = await within(
      deps.fleet.readFleetState(request.claimCertificateId, deviceId),
      deadlines.decide,
      "reading the claim and the allowlist entry",
    );
    const facts: FleetFacts = {
      certificateId: request.certificateId,
      deviceId,
      certificate,
      claim: state.claim,
      device: state.device,
      now: deps.clock.now(),
    };
    let decision = decideFleetProvisioning(facts);
    if (decision.kind === "check-holder") {
      const holderStatus = await within(
        statusOf(deps, decision.holder),
        deadlines.decide,
        "asking IoT Core about the expired reservation's certificate",
      );
      decision = decideFleetProvisioning({ ...facts, holderStatus });
    }
    if (Date.now() >= deadlines.decide)
      throw new DeadlineExceededError("deciding: the budget was spent before any write");
    try {
      return await act(deps, request, deviceId, decision, deadlines);
    } catch (error) {
      await afterLostRace(error, attemptNo, MAX_ATTEMPTS);
    }
  }
};

/** The new certificate alone: IoT Core made it, from its own key or from the device's CSR. */
const judgeCertificate = (deps: PreProvisioningDeps, pem: string): FleetFacts["certificate"] => {
  const inspection = inspectCertificate(pem);
  if (!inspection.ok) return { ok: false, refusal: refuse("CERTIFICATE_MALFORMED", inspection.error) };
  const refusal = checkCertificateItself(inspection.certificate, deps.clock.now(), deps.certificatePolicy);
  return refusal ? { ok: false, refusal } : { ok: true, facts: inspection.certificate.facts };
};

const statusOf = async (deps: PreProvisioningDeps, certificateId: CertificateId) => {
  return (await describeIfAny(deps.registry, certificateId))?.status ?? ("ABSENT" as const);
};

const act = async (
  deps: PreProvisioningDeps,
  request: ProvisioningRequest,
  deviceId: DeviceId,
  decision: FleetDecision,
  deadlines: Deadlines,
): Promise<PreProvisioningOutcome> => {
  const { certificateId } = request;
  switch (decision.kind) {
    case "reserve": {
      let device = decision.device;
      if (decision.expired) device = await giveBack(deps, device, decision.expired, deadlines);
      const until = new Date(deps.clock.now().getTime() + deps.reservationMs).toISOString();
      const reserved = await within(
        deps.store.claim(
          device,
          { ...bindCertificate(certificateId, request.certificateArn, decision.facts), reservedUntil: until },
          deviceEvent(deps, deviceId, "PROVISIONING_STARTED", {
            certificateId,
            to: "PROVISIONING",
            reason: `fleet provisioning with claim ${request.claimCertificateId}; reserved until ${until}`,
          }),
        ),
        deadlines.write,
        "reserving the allowlist entry",
      );
      return allowed(request, reserved, false, decision.expired?.certificateId);
    }
    case "allowed-before":
      return allowed(request, decision.device, true);
    case "deny":
      return deny(deps, request, deviceId, decision.refusal, deadlines);
    case "check-holder":
      throw new Error("the holder's status was asked for and given");
  }
};

/** An expired reservation whose certificate IoT Core never activated: the identity is free again. */
const giveBack = async (
  deps: PreProvisioningDeps,
  device: Device,
  expired: { readonly certificateId: CertificateId; readonly holderStatus: string },
  deadlines: Deadlines,
): Promise<Device> => {
  const at = deps.clock.now().toISOString();
  const refusal = refuse(
    "RESERVATION_EXPIRED",
    `reserved until ${device.certificate?.reservedUntil}; IoT Core has the certificate ${expired.holderStatus}`,
  );
  await within(
    deps.store.release(
      device,
      {
        certificateId: expired.certificateId,
        outcome: "REJECTED",
        refusal,
        deviceId: device.deviceId,
        caCertificateId: device.caCertificateId,
        at,
      },
      deviceEvent(deps, device.deviceId, "RESERVATION_EXPIRED", {
        certificateId: expired.certificateId,
        from: "PROVISIONING",
        to: "ALLOWED",
        reason: `${refusal.code}: ${refusal.detail}`,
      }),
    ),
    deadlines.write,
    "giving back the expired reservation",
  );
  const { certificate: _expired, ...entry } = device;
  return { ...entry, state: "ALLOWED", version: device.version + 1, updatedAt: at };
};

const allowed = (
  request: ProvisioningRequest,
  device: Device,
  again: boolean,
  released?: CertificateId,
): PreProvisioningOutcome => ({
  kind: "allowed",
  certificateId: request.certificateId,
  deviceId: device.deviceId,
  parameterOverrides: { [DEVICE_ID_PARAMETER]: device.deviceId, ...entryParameters(device) },
  again,
  ...(released ? { released } : {}),
});

/** Records the refusal under the certificate and in the named device's history, then denies. */
const deny = async (
  deps: PreProvisioningDeps,
  request: ProvisioningRequest,
  deviceId: DeviceId | undefined,
  refusal: Refusal,
  deadlines: Deadlines,
): Promise<PreProvisioningOutcome> => {
  const { certificateId } = request;
  const reason = `${refusal.code}: ${refusal.detail}`;
  const event =
    deviceId &&
    deviceEvent(
      deps,
      deviceId,
      refusal.code === "IDENTITY_ALREADY_CLAIMED" ? "CLONE_REFUSED" : "CERTIFICATE_REFUSED",
      {
        certificateId,
        reason,
      },
    );
  const recorded = await attempt(
    deps.store.recordRefusal(
      {
        certificateId,
        outcome: "REJECTED",
        refusal,
        ...(deviceId ? { deviceId } : {}),
        at: deps.clock.now().toISOString(),
      },
      event,
    ),
    Math.max(deadlines.write, Date.now() + RECORD_MS),
  );
  return {
    kind: "denied",
    certificateId,
    ...(deviceId ? { deviceId } : {}),
    refusal,
    security: isSecurityRefusal(refusal.code),
    recorded,
  };
};

/** Whether a write that only records landed in time; its failure never changes the answer. */
const attempt = async (work: Promise<unknown>, deadline: number): Promise<boolean> => {
  try {
    await within(work, deadline, "recording");
    return true;
  } catch {
    return false;
  }
};

const deviceEvent = (
  deps: PreProvisioningDeps,
  deviceId: DeviceId,
  type: DeviceEvent["type"],
  details: Omit<DeviceEvent, "deviceId" | "at" | "type" | "actor">,
): DeviceEvent => ({ deviceId, at: deps.clock.now().toISOString(), type, actor: ACTOR, ...details });
