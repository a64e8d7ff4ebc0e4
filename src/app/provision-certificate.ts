import { inspectCertificate } from "#domain/certificate.js";
import { type CertificatePolicy, checkDeviceCertificate, readDeviceId } from "#domain/certificate-checks.js";
import { bindCertificate, type Device, type DeviceEvent, thingAttributes } from "#domain/device.js";
import { ConfigurationError, NotReadyError } from "#domain/errors.js";
import type { CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import {
  type CertificateOrigin,
  decideProvisioning,
  type ProvisioningDecision,
  type ProvisioningFacts,
} from "#domain/provisioning-decision.js";
import { isSecurityRefusal, type Refusal, refuse } from "#domain/refusal.js";
import type { CaDirectory } from "./ca-directory.js";
import { describeIfAny } from "./certificate-description.js";
import type { JitpRegistration } from "./jitp-registration.js";
import { afterLostRace } from "./lost-race.js";
import type { CertificateDescription, Clock, DeviceRegistry, ProvisioningLedger } from "./ports.js";
import { replaceCertificate } from "./replace-certificate.js";

export interface ProvisioningDeps {
  readonly registry: DeviceRegistry;
  readonly store: ProvisioningLedger;
  readonly clock: Clock;
  readonly cas: CaDirectory;
  /** The devices' thing group: the device policy is attached to it at deployment. */
  readonly thingGroupName: string;
  readonly certificatePolicy: CertificatePolicy;
  /** The type of the devices' Things, when the deployment uses one. */
  readonly thingTypeName?: string;
  /** How long a certificate may wait for its allowlist entry (or its CA) before it is refused. */
  readonly waitLimitMs: number;
  /** Taking apart what JITP made for a certificate that is not provisioned: the JITR function's. */
  readonly jitp?: JitpRegistration;
}

export interface RegisteredCertificate {
  readonly certificateId: CertificateId;
  /** Absent when the event does not name it (a Thing JITP made): IoT Core's record of the certificate does. */
  readonly caCertificateId?: CaCertificateId;
  /**
   * Who registered it: IoT Core on first connect (JITR, or JITP when its CA names a template), or
   * a manifest ahead of time. Absent: told by the CA.
   */
  readonly origin?: CertificateOrigin;
}

type Run = ProvisioningDeps & { readonly actor: string; readonly origin: CertificateOrigin };

export type ProvisioningOutcome =
  | {
      readonly kind: "provisioned";
      readonly certificateId: CertificateId;
      readonly deviceId: DeviceId;
      readonly resumed: boolean;
      /** The certificate an approved replacement took over from, now revoked. */
      readonly replaced?: CertificateId;
    }
  | {
      readonly kind: "refused";
      readonly certificateId: CertificateId;
      readonly deviceId?: DeviceId;
      readonly refusal: Refusal;
      /** A refusal that points at an attack (a clone, a forged signature): raise it. */
      readonly security: boolean;
    }
  | {
      /** Not provisionable yet, not refused: provisioned on a connect after its manifest lands. */
      readonly kind: "waiting";
      readonly certificateId: CertificateId;
      readonly deviceId?: DeviceId;
      readonly refusal: Refusal;
      readonly since: string;
    }
  | {
      readonly kind: "unchanged";
      readonly certificateId: CertificateId;
      readonly deviceId?: DeviceId;
      readonly why: string;
    };

// Two events for one identity can race; a lost race is re-read and decided again, a few times at most.
const MAX_ATTEMPTS = 3;

/**
 * Provisions the device behind a certificate that IoT Core registered as PENDING_ACTIVATION, or
 * refuses and revokes it. Safe to run again at any point: the same event twice, two events at
 * once, or a crash after any step followed by a redelivery all end in the same state.
 * Transient failures (throttling, outages, lost races) are thrown for the caller to retry.
 */
export const provisionCertificate = async (
  shared: ProvisioningDeps,
  event: RegisteredCertificate,
): Promise<ProvisioningOutcome> => {
  const description = await describeIfAny(shared.registry, event.certificateId);
  if (!description)
    return { kind: "unchanged", certificateId: event.certificateId, why: "certificate no longer exists" };
  const caCertificateId = event.caCertificateId ?? description.caCertificateId;
  if (!caCertificateId)
    return {
      kind: "unchanged",
      certificateId: event.certificateId,
      why: "certificate has no CA in IoT Core",
    };
  const origin = event.origin ?? ((await shared.cas.lookup(caCertificateId)).jitp ? "jitp" : "jitr");
  // The history says who provisioned: JITR, JITP or a manifest's pre-registration.
  const deps: Run = { ...shared, actor: origin, origin };
  const verdict = await judgeCertificate(deps, description, caCertificateId);
  for (let attempt = 1; ; attempt += 1) {
    try {
      const state = await deps.store.readProvisioningState(
        event.certificateId,
        verdict.ok ? verdict.deviceId : undefined,
      );
      const facts: ProvisioningFacts = {
        origin,
        certificateId: event.certificateId,
        certificateStatus: description.status,
        caCertificateId,
        certificate: verdict,
        device: state.device,
        record: state.record,
        ...(state.approval ? { approval: state.approval } : {}),
        now: deps.clock.now(),
        waitLimitMs: deps.waitLimitMs,
      };
      return await act(deps, description, facts, decideProvisioning(facts));
    } catch (error) {
      await afterLostRace(error, attempt, MAX_ATTEMPTS);
    }
  }
};

/** Everything that can be said about the certificate alone: its CA, its crypto, its device id. */
const judgeCertificate = async (
  deps: Run,
  description: CertificateDescription,
  caCertificateId: CaCertificateId,
): Promise<ProvisioningFacts["certificate"]> => {
  if (description.caCertificateId !== undefined && description.caCertificateId !== caCertificateId) {
    return {
      ok: false,
      refusal: refuse("EVENT_CA_MISMATCH", `registered under CA ${description.caCertificateId}`),
    };
  }
  const inspection = inspectCertificate(description.pem);
  if (!inspection.ok) return { ok: false, refusal: refuse("CERTIFICATE_MALFORMED", inspection.error) };
  // The device the certificate names, read before it is judged: a refusal goes into its history.
  const id = readDeviceId(inspection.certificate, deps.certificatePolicy.deviceIdField);
  const named = id.ok ? { deviceId: id.deviceId } : {};
  const ca = await deps.cas.lookup(caCertificateId);
  if (!ca.ok) return { ok: false, refusal: ca.refusal, ...named };
  const refusal = await checkDeviceCertificate(
    inspection.certificate,
    ca.ca,
    deps.clock.now(),
    deps.certificatePolicy,
  );
  if (refusal) return { ok: false, refusal, ...named };
  return id.ok ? { ok: true, facts: inspection.certificate.facts, deviceId: id.deviceId } : id;
};

const act = async (
  deps: Run,
  description: CertificateDescription,
  facts: ProvisioningFacts,
  decision: ProvisioningDecision,
): Promise<ProvisioningOutcome> => {
  const { certificateId } = facts;
  switch (decision.kind) {
    case "provision": {
      const event = deviceEvent(deps, decision.device, "PROVISIONING_STARTED", {
        certificateId,
        to: "PROVISIONING",
      });
      const claimed = await deps.store.claim(
        decision.device,
        bindCertificate(certificateId, description.certificateArn, decision.facts),
        event,
      );
      return provision(deps, description, claimed, false);
    }
    case "replace": {
      const { replaced } = await replaceCertificate(deps, description, decision);
      const resumed = description.status === "ACTIVE";
      return { kind: "provisioned", certificateId, deviceId: decision.device.deviceId, resumed, replaced };
    }
    case "resume":
      return provision(deps, description, decision.device, true);
    case "abandon":
      return release(deps, description, decision.device, decision.refusal);
    case "refuse":
      return refuseCertificate(deps, description, decision.refusal, decision.deviceId, decision.device);
    case "wait": {
      const at = deps.clock.now().toISOString();
      // The first connect goes into the device's history; the later ones are counted on the record.
      const since = await deps.store.recordWaiting(
        {
          certificateId,
          outcome: "WAITING",
          refusal: decision.refusal,
          ...(decision.deviceId ? { deviceId: decision.deviceId } : {}),
          caCertificateId: facts.caCertificateId,
          at,
        },
        decision.deviceId
          ? deviceEvent(deps, { deviceId: decision.deviceId }, "CERTIFICATE_WAITING", {
              certificateId,
              reason: `${decision.refusal.code}: ${decision.refusal.detail}`,
            })
          : undefined,
      );
      // An INACTIVE certificate's connects raise no event: JITP's registration is undone (nothing
      // revoked), so that the device's next connect registers it again and it is decided again.
      if (facts.origin === "jitp")
        await jitpOf(deps).unregister(description, decision.deviceId, facts.device);
      return {
        kind: "waiting",
        certificateId,
        ...(decision.deviceId ? { deviceId: decision.deviceId } : {}),
        refusal: decision.refusal,
        since,
      };
    }
    case "already-refused":
      await revokeUnlessRevoked(deps, description);
      return { kind: "unchanged", certificateId, why: `refused before: ${decision.refusal.code}` };
    case "already-active":
      return {
        kind: "unchanged",
        certificateId,
        deviceId: decision.device.deviceId,
        why: "device already ACTIVE",
      };
    case "ignore":
      return { kind: "unchanged", certificateId, why: decision.why };
    case "retry-later":
      throw new NotReadyError(`certificate ${certificateId}: ${decision.why}`);
  }
};

/**
 * The IoT steps, in the only safe order: everything the device needs first, activation last. A
 * failure here is ours (a missing grant, a bad configuration, an outage), never a verdict on the
 * device: it is thrown, the claim stays, and a retry or the device's next connect resumes it.
 */
const provision = async (
  deps: Run,
  description: CertificateDescription,
  device: Device,
  resumed: boolean,
): Promise<ProvisioningOutcome> => {
  const { certificateId, certificateArn } = description;
  await deps.registry.createThing(device.deviceId, thingAttributes(device), deps.thingTypeName);
  await deps.registry.addThingToGroup(deps.thingGroupName, device.deviceId);
  // JITP's template attached the certificate to the Thing its identity names, which is this one.
  if (deps.origin !== "jitp") await deps.registry.attachThingPrincipal(device.deviceId, certificateArn);
  if (description.status !== "ACTIVE") await deps.registry.updateCertificateStatus(certificateId, "ACTIVE");
  await deps.store.activate(
    device,
    deviceEvent(deps, device, "ACTIVATED", { certificateId, from: "PROVISIONING", to: "ACTIVE" }),
  );
  return { kind: "provisioned", certificateId, deviceId: device.deviceId, resumed };
};

/** A claimed provisioning that cannot finish: revoke the certificate, give the identity back. */
const release = async (
  deps: Run,
  description: CertificateDescription,
  device: Device,
  refusal: Refusal,
): Promise<ProvisioningOutcome> => {
  const { certificateId } = description;
  await revokeUnlessRevoked(deps, description);
  const at = deps.clock.now().toISOString();
  await deps.store.release(
    device,
    {
      certificateId,
      outcome: "REJECTED",
      refusal,
      deviceId: device.deviceId,
      caCertificateId: device.caCertificateId,
      at,
    },
    deviceEvent(deps, device, "PROVISIONING_FAILED", {
      certificateId,
      from: "PROVISIONING",
      to: "ALLOWED",
      reason: refusal.detail,
    }),
  );
  return { kind: "refused", certificateId, deviceId: device.deviceId, refusal, security: false };
};

const jitpOf = (deps: Run): JitpRegistration => {
  if (!deps.jitp)
    throw new ConfigurationError("a JITP certificate reached a provisioning given no JITP steps");
  return deps.jitp;
};

/** Records the refusal first, then revokes: a crash in between is finished by the redelivery. */
const refuseCertificate = async (
  deps: Run,
  description: CertificateDescription,
  refusal: Refusal,
  deviceId: DeviceId | undefined,
  device: Device | undefined,
): Promise<ProvisioningOutcome> => {
  const { certificateId } = description;
  const at = deps.clock.now().toISOString();
  // Into the history of the device the certificate names, on the allowlist or not: an operator
  // asked about that device finds every refusal of it.
  const named = device ?? (deviceId ? { deviceId } : undefined);
  const event =
    named &&
    deviceEvent(
      deps,
      named,
      refusal.code === "IDENTITY_ALREADY_CLAIMED" ? "CLONE_REFUSED" : "CERTIFICATE_REFUSED",
      {
        certificateId,
        reason: `${refusal.code}: ${refusal.detail}`,
      },
    );
  await deps.store.recordRefusal(
    {
      certificateId,
      outcome: "REJECTED",
      refusal,
      ...(deviceId ? { deviceId } : {}),
      // Kept for retirement: an operator may retire one CA's refused certificates first.
      ...(description.caCertificateId ? { caCertificateId: description.caCertificateId } : {}),
      at,
    },
    event,
  );
  await revokeUnlessRevoked(deps, description);
  if (deps.origin === "jitp") await jitpOf(deps).detach(description, deviceId, device);
  return {
    kind: "refused",
    certificateId,
    ...(deviceId ? { deviceId } : {}),
    refusal,
    security: isSecurityRefusal(refusal.code),
  };
};

const revokeUnlessRevoked = async (deps: Run, description: CertificateDescription): Promise<void> => {
  if (description.status !== "REVOKED")
    await deps.registry.updateCertificateStatus(description.certificateId, "REVOKED");
};

const deviceEvent = (
  deps: Run,
  device: Pick<Device, "deviceId">,
  type: DeviceEvent["type"],
  details: Omit<DeviceEvent, "deviceId" | "at" | "type" | "actor">,
): DeviceEvent => ({
  deviceId: device.deviceId,
  at: deps.clock.now().toISOString(),
  type,
  actor: deps.actor,
  ...details,
});
