import type { BoundCertificate, Device } from "./device.js";
import type { BatchId, CertificateId, DeviceId } from "./ids.js";
import type { RefusalCode } from "./refusal.js";

/**
 * Certificate rotation, with overlap and rollback: the device asks for a certificate of a new key
 * over its current certificate's connection; the new certificate is issued beside the current one
 * (both can connect: the overlap); the device proves it holds the new key by committing over the
 * new certificate's connection, and only then is the old certificate deactivated, and revoked
 * after a grace period. Without a commit in time the new certificate is revoked and the old one
 * stays: a device can always fall back to the certificate it has until it commits.
 *
 * Pure: the decisions below read a device and what arrived, and say what to do.
 */

export interface RotationWindows {
  /** How long the device has, from the issue of its new certificate, to commit over it. */
  readonly commitWithinSeconds: number;
  /** How long the replaced certificate stays INACTIVE (an operator may still reactivate it) before it is revoked. */
  readonly graceSeconds: number;
}

/** Who asked: the device itself, or an operator (alone, or through a campaign) through IoT Jobs. */
interface RotationBase {
  readonly rotationId: string;
  readonly requestedAt: string;
  /** `device` when the device asked on its own; otherwise the operator's identity. */
  readonly requestedBy: string;
  readonly windows: RotationWindows;
  /** The IoT job that told the device to rotate. */
  readonly jobId?: string;
  readonly campaignId?: string;
  readonly reason?: string;
}

/** A certificate issued by a rotation, and the request it answered (to recognise the same request sent again). */
export interface RotationCertificate extends BoundCertificate {
  readonly requestSha256: string;
  readonly issuedAt: string;
}

export type RequestedRotation = RotationBase & { readonly state: "REQUESTED" };
/** The overlap: the current and the new certificate can both connect. */
export type IssuedRotation = RotationBase & {
  readonly state: "ISSUED";
  readonly issued: RotationCertificate;
  readonly commitBy: string;
};
/** Committed: the new certificate is the device's; the replaced one is INACTIVE until `revokeAt`. */
export type CommittedRotation = RotationBase & {
  readonly state: "COMMITTED";
  readonly issued: RotationCertificate;
  readonly replaced: BoundCertificate;
  readonly committedAt: string;
  readonly revokeAt: string;
};
export type CompletedRotation = RotationBase & {
  readonly state: "COMPLETED";
  readonly issued: RotationCertificate;
  readonly replaced: BoundCertificate;
  readonly committedAt: string;
  readonly completedAt: string;
};
/** No commit in time, or an operator's action on the device: the new certificate, if any, is revoked. */
export type RolledBackRotation = RotationBase & {
  readonly state: "ROLLED_BACK";
  readonly issued?: RotationCertificate;
  readonly rolledBackAt: string;
  readonly why: string;
};

export type Rotation =
  | RequestedRotation
  | IssuedRotation
  | CommittedRotation
  | CompletedRotation
  | RolledBackRotation;
export type RotationState = Rotation["state"];
export const ROTATION_STATES: readonly RotationState[] = [
  "REQUESTED",
  "ISSUED",
  "COMMITTED",
  "COMPLETED",
  "ROLLED_BACK",
];

/** A rotation still running: another cannot start until it ends. */
export const isRotating = (rotation: Rotation | undefined): boolean =>
  rotation?.state === "REQUESTED" || rotation?.state === "ISSUED" || rotation?.state === "COMMITTED";

/**
 * Why a rotation step was refused. Codes are stable; the device gets them on its rejected topic.
 * A refusal of a request revokes nothing: the device keeps its certificate and may ask again.
 */
export const ROTATION_REJECTIONS = {
  MESSAGE_INVALID: "The message is not a rotation request fleetgate understands.",
  DEVICE_UNKNOWN: "fleetgate has no record of this device.",
  DEVICE_NOT_ACTIVE: "The device is not ACTIVE: only an active device rotates its certificate.",
  NOT_CURRENT_CERTIFICATE:
    "The request did not come over the connection of the device's current certificate.",
  ROTATION_IN_GRACE:
    "The last rotation's replaced certificate is still in its grace period: a new rotation waits for its end.",
  ROTATION_IN_PROGRESS: "A rotation of this device is already running.",
  CSR_MALFORMED: "The certificate signing request cannot be parsed as PKCS#10 in PEM.",
  CSR_SIGNATURE_INVALID:
    "The certificate signing request is not signed by the key it asks a certificate for.",
  DEVICE_ID_MISMATCH: "The certificate signing request's subject names another device.",
  KEY_NOT_NEW: "The request is for the key the device already has: a rotation needs a new key.",
  NO_ROTATION_TO_COMMIT: "No rotation of this device waits for a commit.",
  COMMIT_NOT_OVER_NEW_CERTIFICATE:
    "A commit counts only over the new certificate's connection: it proves the device holds the new key.",
  COMMIT_TOO_LATE: "The commit came after the rotation's commit window: the new certificate is revoked.",
  ROTATION_MISMATCH: "The message names another rotation than the one running.",
  ISSUER_REFUSED: "The certificate authority refused the certificate signing request.",
} as const;

export type RotationRejectionCode = keyof typeof ROTATION_REJECTIONS | RefusalCode;

export interface RotationRejection {
  readonly code: RotationRejectionCode;
  readonly detail: string;
}

export const reject = (code: keyof typeof ROTATION_REJECTIONS, detail?: string): RotationRejection => ({
  code,
  detail: detail ?? ROTATION_REJECTIONS[code],
});

/** A certificate request that passed the crypto policy: what the decision needs of it. */
export interface AcceptedRequest {
  readonly publicKeySha256: string;
  readonly requestSha256: string;
}

export type RequestVerdict =
  | { readonly ok: true; readonly request: AcceptedRequest }
  | { readonly ok: false; readonly rejection: RotationRejection };

export interface CertificateRequestFacts {
  /** The device the topic and client id name. */
  readonly deviceId: DeviceId;
  readonly device: Device | undefined;
  /** The certificate whose connection published the request (the topic rule's principal()). */
  readonly speaker: CertificateId;
  readonly verdict: RequestVerdict;
  readonly now: Date;
  /** The deployment's windows, for a rotation the device asks for on its own. */
  readonly windows: RotationWindows;
  /** An id for a rotation this request would start. */
  readonly newRotationId: string;
}

export type CertificateRequestDecision =
  /** Issue a certificate for the request; `supersedes` is a pending one of an earlier request, to revoke first. */
  | {
      readonly kind: "issue";
      readonly device: Device;
      readonly base: RotationBase;
      readonly request: AcceptedRequest;
      readonly supersedes?: IssuedRotation;
    }
  /** The same request again (a lost answer, a redelivery): finish what is left and answer again. */
  | { readonly kind: "resume"; readonly device: Device; readonly rotation: IssuedRotation }
  | { readonly kind: "reject"; readonly rejection: RotationRejection; readonly device?: Device };

/**
 * Decides a certificate signing request a device published. Who spoke is checked before what it
 * asks: only the device's current certificate may ask, and only while the device is ACTIVE.
 */
export const decideCertificateRequest = (facts: CertificateRequestFacts): CertificateRequestDecision => {
  const { device, speaker, verdict, now } = facts;
  if (!device) return { kind: "reject", rejection: reject("DEVICE_UNKNOWN", `device ${facts.deviceId}`) };
  if (device.state !== "ACTIVE")
    return { kind: "reject", device, rejection: reject("DEVICE_NOT_ACTIVE", `device is ${device.state}`) };
  const current = device.certificate;
  if (!current || current.certificateId !== speaker)
    return {
      kind: "reject",
      device,
      rejection: reject(
        "NOT_CURRENT_CERTIFICATE",
        `sent over certificate ${speaker}; the device's current certificate is ${current?.certificateId ?? "none"}`,
      ),
    };
  const rotation = device.rotation;
  if (rotation?.state === "COMMITTED")
    return {
      kind: "reject",
      device,
      rejection: reject(
        "ROTATION_IN_GRACE",
        `certificate ${rotation.replaced.certificateId} until ${rotation.revokeAt}`,
      ),
    };
  if (!verdict.ok) return { kind: "reject", device, rejection: verdict.rejection };
  if (verdict.request.publicKeySha256 === current.publicKeySha256)
    return { kind: "reject", device, rejection: reject("KEY_NOT_NEW") };
  if (rotation?.state === "ISSUED") {
    if (rotation.issued.requestSha256 === verdict.request.requestSha256)
      return { kind: "resume", device, rotation };
    // Another request while one waits for its commit: the device lost the first answer or its
    // key. The new request replaces the pending one, with the same origin and windows.
    return { kind: "issue", device, base: baseOf(rotation), request: verdict.request, supersedes: rotation };
  }
  if (rotation?.state === "REQUESTED")
    return { kind: "issue", device, base: baseOf(rotation), request: verdict.request };
  return {
    kind: "issue",
    device,
    request: verdict.request,
    base: {
      rotationId: facts.newRotationId,
      requestedAt: now.toISOString(),
      requestedBy: "device",
      windows: facts.windows,
    },
  };
};

const baseOf = (rotation: Rotation): RotationBase => {
  const { rotationId, requestedAt, requestedBy, windows, jobId, campaignId, reason } = rotation;
  return {
    rotationId,
    requestedAt,
    requestedBy,
    windows,
    ...(jobId ? { jobId } : {}),
    ...(campaignId ? { campaignId } : {}),
    ...(reason ? { reason } : {}),
  };
};

/** The rotation once its new certificate is issued: the overlap starts, the commit window runs. */
export const issuedRotation = (
  base: RotationBase,
  certificate: BoundCertificate,
  request: AcceptedRequest,
  now: Date,
): IssuedRotation => ({
  ...base,
  state: "ISSUED",
  issued: { ...certificate, requestSha256: request.requestSha256, issuedAt: now.toISOString() },
  commitBy: after(now, base.windows.commitWithinSeconds),
});

export interface CommitFacts {
  readonly deviceId: DeviceId;
  readonly device: Device | undefined;
  readonly speaker: CertificateId;
  /** The rotation the device says it commits, when it says. */
  readonly rotationId?: string;
  readonly now: Date;
}

export type CommitDecision =
  /** The new certificate becomes the device's; the replaced one is to be deactivated. */
  | {
      readonly kind: "commit";
      readonly device: Device;
      readonly rotation: IssuedRotation;
      readonly committed: CommittedRotation;
    }
  /** Committed before by this certificate (a lost answer, a redelivery): finish and answer again. */
  | { readonly kind: "resume"; readonly device: Device; readonly rotation: CommittedRotation }
  | {
      readonly kind: "reject";
      readonly rejection: RotationRejection;
      readonly device?: Device;
      /** Worth the device's history: a commit over the wrong certificate, or too late. */
      readonly recorded: boolean;
    };

/** Decides a commit: only one that came over the new certificate's connection, within the window, counts. */
export const decideCommit = (facts: CommitFacts): CommitDecision => {
  const { device, speaker, now } = facts;
  if (!device)
    return {
      kind: "reject",
      rejection: reject("DEVICE_UNKNOWN", `device ${facts.deviceId}`),
      recorded: false,
    };
  const rotation = device.rotation;
  if (facts.rotationId !== undefined && rotation && rotation.rotationId !== facts.rotationId)
    return {
      kind: "reject",
      device,
      rejection: reject("ROTATION_MISMATCH", `${facts.rotationId} is not ${rotation.rotationId}`),
      recorded: false,
    };
  if (
    (rotation?.state === "COMMITTED" || rotation?.state === "COMPLETED") &&
    rotation.issued.certificateId === speaker
  )
    return rotation.state === "COMMITTED"
      ? { kind: "resume", device, rotation }
      : {
          kind: "reject",
          device,
          rejection: reject("NO_ROTATION_TO_COMMIT", "committed before"),
          recorded: false,
        };
  if (rotation?.state !== "ISSUED")
    return { kind: "reject", device, rejection: reject("NO_ROTATION_TO_COMMIT"), recorded: false };
  if (device.state !== "ACTIVE")
    return {
      kind: "reject",
      device,
      rejection: reject("DEVICE_NOT_ACTIVE", `device is ${device.state}`),
      recorded: true,
    };
  if (rotation.issued.certificateId !== speaker)
    return {
      kind: "reject",
      device,
      rejection: reject(
        "COMMIT_NOT_OVER_NEW_CERTIFICATE",
        `sent over certificate ${speaker}, not the new ${rotation.issued.certificateId}`,
      ),
      recorded: true,
    };
  if (now.getTime() > Date.parse(rotation.commitBy))
    return {
      kind: "reject",
      device,
      rejection: reject("COMMIT_TOO_LATE", `the window closed at ${rotation.commitBy}`),
      recorded: true,
    };
  const replaced = device.certificate;
  if (!replaced)
    return {
      kind: "reject",
      device,
      rejection: reject("NO_ROTATION_TO_COMMIT", "no current certificate"),
      recorded: false,
    };
  return {
    kind: "commit",
    device,
    rotation,
    committed: {
      ...baseOf(rotation),
      state: "COMMITTED",
      issued: rotation.issued,
      replaced,
      committedAt: now.toISOString(),
      revokeAt: after(now, rotation.windows.graceSeconds),
    },
  };
};

/** What a rotation waits for, to happen at `dueAt` whatever the device does. */
export interface RotationTimer {
  readonly kind: "commit-deadline" | "revoke-replaced";
  readonly deviceId: DeviceId;
  readonly rotationId: string;
  readonly dueAt: string;
}

export type TimerDecision =
  /** No commit in time: record the rollback (which a late commit then cannot beat), then revoke. */
  | { readonly kind: "roll-back"; readonly device: Device; readonly rotation: IssuedRotation }
  /** The grace period ended: record the completion, then revoke the replaced certificate. */
  | { readonly kind: "complete"; readonly device: Device; readonly rotation: CommittedRotation }
  /**
   * Recorded before, by this timer's earlier delivery or an operator: make sure the certificate
   * it took out of use is revoked (the step after the record may not have run).
   */
  | {
      readonly kind: "finish";
      readonly device: Device;
      readonly certificate: BoundCertificate;
      readonly why: "ROLLED_BACK" | "REPLACED";
    }
  /** Not due yet (a timer parked for longer than a queue can delay it): set it again. */
  | { readonly kind: "wait" }
  /** The rotation moved on (committed, superseded, another one started): nothing left to do. */
  | { readonly kind: "drop"; readonly why: string };

/**
 * Decides a timer. The replaced certificate is revoked whatever the device's state since: the
 * commit decided it. A new certificate is rolled back when its window closed without a commit.
 * Each step is recorded before IoT Core is changed, conditional on the device's version, so that
 * a commit and its deadline racing each other cannot both win.
 */
export const decideTimer = (timer: RotationTimer, device: Device | undefined, now: Date): TimerDecision => {
  if (!device) return { kind: "drop", why: `device ${timer.deviceId} no longer exists` };
  const rotation = device.rotation;
  if (!rotation || rotation.rotationId !== timer.rotationId)
    return { kind: "drop", why: `rotation ${timer.rotationId} is no longer the device's` };
  if (timer.kind === "commit-deadline") {
    if (rotation.state === "ROLLED_BACK" && rotation.issued)
      return { kind: "finish", device, certificate: rotation.issued, why: "ROLLED_BACK" };
    if (rotation.state !== "ISSUED") return { kind: "drop", why: `rotation is ${rotation.state}` };
    // A superseding request set a deadline of its own, with a timer of its own.
    if (rotation.commitBy !== timer.dueAt) return { kind: "drop", why: "the deadline moved" };
    if (now.getTime() <= Date.parse(rotation.commitBy)) return { kind: "wait" };
    return { kind: "roll-back", device, rotation };
  }
  if (rotation.state === "COMPLETED")
    return { kind: "finish", device, certificate: rotation.replaced, why: "REPLACED" };
  if (rotation.state !== "COMMITTED") return { kind: "drop", why: `rotation is ${rotation.state}` };
  if (now.getTime() < Date.parse(rotation.revokeAt)) return { kind: "wait" };
  return { kind: "complete", device, rotation };
};

export const timerFor = (device: Device, rotation: IssuedRotation | CommittedRotation): RotationTimer =>
  rotation.state === "ISSUED"
    ? {
        kind: "commit-deadline",
        deviceId: device.deviceId,
        rotationId: rotation.rotationId,
        dueAt: rotation.commitBy,
      }
    : {
        kind: "revoke-replaced",
        deviceId: device.deviceId,
        rotationId: rotation.rotationId,
        dueAt: rotation.revokeAt,
      };

export const rolledBack = (rotation: IssuedRotation, now: Date, why: string): RolledBackRotation => ({
  ...baseOf(rotation),
  state: "ROLLED_BACK",
  issued: rotation.issued,
  rolledBackAt: now.toISOString(),
  why,
});

export const completed = (rotation: CommittedRotation, now: Date): CompletedRotation => ({
  ...baseOf(rotation),
  state: "COMPLETED",
  issued: rotation.issued,
  replaced: rotation.replaced,
  committedAt: rotation.committedAt,
  completedAt: now.toISOString(),
});

export interface RotationRequestFacts {
  readonly device: Device | undefined;
  readonly deviceId: DeviceId;
  readonly now: Date;
  readonly requestedBy: string;
  readonly windows: RotationWindows;
  readonly newRotationId: string;
  /** The job that will tell the device (named before it is created, so a retry finds it). */
  readonly jobIdFor: (rotationId: string) => string;
  readonly campaignId?: string;
  readonly reason?: string;
}

export type RotationRequestDecision =
  | { readonly kind: "request"; readonly device: Device; readonly rotation: RequestedRotation }
  /** Requested before and not started: tell the device again (a retry, a redelivered page). */
  | { readonly kind: "requested-before"; readonly device: Device; readonly rotation: RequestedRotation }
  | { readonly kind: "reject"; readonly rejection: RotationRejection; readonly device?: Device };

/** An operator (or a campaign) asks a device to rotate: an ACTIVE device with no rotation running. */
export const decideRotationRequest = (facts: RotationRequestFacts): RotationRequestDecision => {
  const { device } = facts;
  if (!device) return { kind: "reject", rejection: reject("DEVICE_UNKNOWN", `device ${facts.deviceId}`) };
  if (device.state !== "ACTIVE")
    return { kind: "reject", device, rejection: reject("DEVICE_NOT_ACTIVE", `device is ${device.state}`) };
  const rotation = device.rotation;
  if (rotation?.state === "REQUESTED" && rotation.campaignId === facts.campaignId)
    return { kind: "requested-before", device, rotation };
  if (isRotating(rotation))
    return {
      kind: "reject",
      device,
      rejection: reject("ROTATION_IN_PROGRESS", `rotation ${rotation?.rotationId} is ${rotation?.state}`),
    };
  return {
    kind: "request",
    device,
    rotation: {
      rotationId: facts.newRotationId,
      state: "REQUESTED",
      requestedAt: facts.now.toISOString(),
      requestedBy: facts.requestedBy,
      windows: facts.windows,
      jobId: facts.jobIdFor(facts.newRotationId),
      ...(facts.campaignId ? { campaignId: facts.campaignId } : {}),
      ...(facts.reason ? { reason: facts.reason } : {}),
    },
  };
};

/**
 * The certificates a device holds in IoT Core, by role: the current one, a new one during the
 * overlap, a replaced one during its grace period. Whoever deactivates or revokes a device's
 * access (an operator's action, a reconciler) must treat every one of them.
 */
export const certificatesOf = (
  device: Device,
): {
  readonly current?: BoundCertificate;
  readonly pending?: RotationCertificate;
  readonly replaced?: BoundCertificate;
} => {
  const rotation = device.rotation;
  return {
    ...(device.certificate ? { current: device.certificate } : {}),
    ...(rotation?.state === "ISSUED" ? { pending: rotation.issued } : {}),
    ...(rotation?.state === "COMMITTED" ? { replaced: rotation.replaced } : {}),
  };
};

/**
 * The IoT Core control-plane calls one rotation costs a device, from request to completion, by
 * operation: the new certificate (created INACTIVE, attached, activated last), the replaced one
 * (deactivated at the commit, revoked after the grace period; retirement detaches and deletes it
 * later, on its own budget). A campaign is paced by these.
 */
export const ROTATION_IOT_CALLS = {
  CreateCertificateFromCsr: 1,
  AttachThingPrincipal: 1,
  UpdateCertificate: 3,
} as const;

const after = (now: Date, seconds: number): string => new Date(now.getTime() + seconds * 1000).toISOString();

/** Which devices a rotation campaign asks to rotate: a batch's, or those whose certificate expires soon. */
export type CampaignSelector = { readonly batchId: BatchId } | { readonly expiringWithinDays: number };

/** A rotation campaign and its progress, page by page. */
export interface RotationCampaign {
  readonly campaignId: string;
  readonly selector: CampaignSelector;
  readonly windows: RotationWindows;
  readonly reason?: string;
  readonly requestedBy: string;
  readonly createdAt: string;
  /** Devices told to rotate a minute: each job's rollout, and the pace of the pages. */
  readonly perMinute: number;
  readonly pagesDone: number;
  /** Devices asked to rotate so far. */
  readonly requested: number;
  /** Devices of the selection not asked (not ACTIVE, a rotation already running). */
  readonly skipped: number;
  /** Set once the last page is done. */
  readonly lastPage?: number;
}

/** One page of a campaign: the devices its job asked to rotate, and those skipped with why. */
export interface CampaignPage {
  readonly page: number;
  readonly jobId?: string;
  readonly deviceIds: readonly DeviceId[];
  readonly skipped: readonly { readonly deviceId: DeviceId; readonly code: RotationRejectionCode }[];
  readonly at: string;
}

/** IoT Jobs' job id for a campaign's page, or an operator's rotation: 1-64 of [a-zA-Z0-9_-]. */
export const rotationJobId = (rotationOrCampaignId: string, page?: number): string =>
  `fleetgate-rotate-${rotationOrCampaignId}${page === undefined ? "" : `-${page}`}`;

/**
 * How many devices a minute a share of the account's IoT quotas rotates: the operation whose quota
 * runs out first (UpdateCertificate: 3 calls a rotation at 10 a second) decides.
 */
export const rotationsPerMinute = (quotas: Readonly<Record<string, number>>, share: number): number =>
  Math.max(
    1,
    Math.floor(
      60 *
        share *
        Math.min(
          ...Object.entries(ROTATION_IOT_CALLS).map(
            ([operation, calls]) => (quotas[operation] ?? Number.POSITIVE_INFINITY) / calls,
          ),
        ),
    ),
  );
