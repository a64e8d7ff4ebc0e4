import type { DeviceEvent } from "#domain/device.js";
import { ConfigurationError } from "#domain/errors.js";
import type { CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import {
  judgeHolder,
  judgeStatus,
  type RetirableCertificate,
  type RetirementReason,
  retentionCutoff,
} from "#domain/retirement.js";
import { describeIfAny } from "./certificate-description.js";
import type {
  Clock,
  DeviceLedger,
  DeviceRegistry,
  IotInventory,
  ReplacementApprovals,
  RetirementLedger,
} from "./ports.js";

/**
 * Clean retirement: certificates that were replaced, revoked with their device, or refused are
 * deleted from IoT Core once their retention has passed, oldest first, a bounded part per call.
 * Each is judged on IoT Core's own word just before: one that is ACTIVE there, or attached to a
 * live device's Thing or to a Thing fleetgate does not know, is left and reported, never touched.
 * IoT Core itself refuses to delete a certificate that is ACTIVE or attached to a Thing, so a
 * change between the look and the delete is refused too. A failure of ours decides nothing: the
 * certificate stays queued for the next run.
 */
export interface RetirementDeps {
  readonly store: Pick<RetirementLedger, "pageRetirable" | "recordRetired"> & Pick<DeviceLedger, "getDevice">;
  readonly registry: Pick<
    DeviceRegistry,
    "describeCertificate" | "detachThingPrincipal" | "deleteCertificate"
  >;
  readonly inventory: Pick<IotInventory, "certificateThings">;
  readonly clock: Clock;
  /** How long a certificate is kept after it stopped being usable. */
  readonly retentionMs: number;
  /** Waits before deleting what was just detached (IoT Core detaches asynchronously). */
  readonly pause: (ms: number) => Promise<void>;
}

/** What a run of the job needs besides: the expired approvals it clears, its checkpoint. */
export type RetirementRunDeps = RetirementDeps & {
  readonly store: RetirementDeps["store"] &
    ReplacementApprovals &
    Pick<RetirementLedger, "readRetirementCheckpoint" | "saveRetirementCheckpoint">;
};

export interface RetirementRequest {
  /** Certificates to examine at most in this call. */
  readonly limit: number;
  readonly cursor?: string;
  /** Only say what would be done. */
  readonly dryRun?: boolean;
  /** Another retention for this call (an operator retiring sooner); the configured one otherwise. */
  readonly retentionMs?: number;
  /** Only the certificates of this CA. */
  readonly caCertificateId?: CaCertificateId;
  /** Recorded on every retirement: the scheduled job, or the operator who asked. */
  readonly actor: string;
  /** Start no new page after this instant (the clock's milliseconds). */
  readonly deadline?: number;
}

export type RetirementOutcome =
  /** Deleted from IoT Core (or found gone), recorded. */
  | "RETIRED"
  /** A dry run's verdict: it would be deleted. */
  | "WOULD_RETIRE"
  /** Detached from a Thing just now; IoT Core had not let go of it yet: deleted on a later run. */
  | "DETACHED"
  /** Not to be touched (ACTIVE, or held by a live or unknown Thing); reported each run. */
  | "LEFT"
  /** A read or a write failed: nothing was decided; it stays queued. */
  | "UNCHECKED";

export interface RetirementItem {
  readonly certificateId: CertificateId;
  readonly deviceId?: DeviceId;
  readonly why: RetirementReason;
  readonly since: string;
  readonly outcome: RetirementOutcome;
  /** IoT Core's status when it was looked at; DELETED when IoT Core no longer had it. */
  readonly status?: CertificateStatus | "DELETED";
  /** The Things it was (or would be) detached from. */
  readonly detached?: readonly DeviceId[];
  readonly detail?: string;
}

export interface RetirementReport {
  readonly dryRun: boolean;
  /** Certificates that stopped being usable before this were due. */
  readonly before: string;
  readonly examined: number;
  readonly items: readonly RetirementItem[];
  /** Where the next call goes on; absent when the queue's due part was read to its end. */
  readonly cursor?: string;
}

const PAGE = 25;
// IoT Core documents DetachThingPrincipal as asynchronous ("several seconds").
const DETACH_SETTLE_MS = 3_000;

/** One bounded part of a pass over the certificates due for retirement. */
export const retireCertificates = async (
  deps: RetirementDeps,
  request: RetirementRequest,
): Promise<RetirementReport> => {
  const dryRun = request.dryRun === true;
  const before = retentionCutoff(deps.clock.now(), request.retentionMs ?? deps.retentionMs);
  const items: RetirementItem[] = [];
  let cursor = request.cursor;
  let examined = 0;
  do {
    const page = await deps.store.pageRetirable(
      { before, ...(request.caCertificateId ? { caCertificateId: request.caCertificateId } : {}) },
      { limit: Math.min(PAGE, request.limit - examined), ...(cursor ? { cursor } : {}) },
    );
    const detached: { candidate: RetirableCertificate; item: RetirementItem }[] = [];
    for (const candidate of page.items) {
      examined += 1;
      const item = await settle(candidate, () => retireOne(deps, candidate, dryRun, request.actor));
      if (item.outcome === "DETACHED") detached.push({ candidate, item });
      else items.push(item);
    }
    if (detached.length > 0) await deps.pause(DETACH_SETTLE_MS);
    for (const { candidate, item } of detached)
      items.push(await settle(candidate, () => deleteDetached(deps, candidate, item, request.actor)));
    cursor = page.cursor;
  } while (
    cursor &&
    examined < request.limit &&
    (request.deadline === undefined || deps.clock.now().getTime() < request.deadline)
  );
  return { dryRun, before, examined, items, ...(cursor ? { cursor } : {}) };
};

/** A failure of ours stops the run (a missing grant is for a person to fix); any other is reported. */
const settle = async (
  candidate: RetirableCertificate,
  work: () => Promise<RetirementItem>,
): Promise<RetirementItem> => {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    return {
      ...about(candidate),
      outcome: "UNCHECKED",
      detail: error instanceof Error ? error.message : String(error),
    };
  }
};

const about = (candidate: RetirableCertificate) => ({
  certificateId: candidate.certificateId,
  ...(candidate.deviceId ? { deviceId: candidate.deviceId } : {}),
  why: candidate.why,
  since: candidate.since,
});

const retireOne = async (
  deps: RetirementDeps,
  candidate: RetirableCertificate,
  dryRun: boolean,
  actor: string,
): Promise<RetirementItem> => {
  const description = await describeIfAny(deps.registry, candidate.certificateId);
  const verdict = judgeStatus(description?.status);
  if (verdict.kind === "leave")
    return { ...about(candidate), outcome: "LEFT", status: description?.status, detail: verdict.why };
  if (verdict.kind === "gone" || !description) {
    if (dryRun) return { ...about(candidate), outcome: "WOULD_RETIRE", status: "DELETED" };
    return recordRetired(deps, candidate, actor, "DELETED", []);
  }
  if (dryRun) {
    const holders = await judgeHolders(deps, candidate.certificateId, description.certificateArn);
    if (holders.kind === "leave")
      return { ...about(candidate), outcome: "LEFT", status: description.status, detail: holders.why };
    return {
      ...about(candidate),
      outcome: "WOULD_RETIRE",
      status: description.status,
      detached: holders.things,
    };
  }
  // Deleting first costs one call for the usual certificate, attached to nothing: IoT Core refuses
  // the delete of one that is still attached, and only then are its Things looked at.
  const deleted = await deps.registry.deleteCertificate(candidate.certificateId);
  if (deleted === "deleted" || deleted === "gone")
    return recordRetired(deps, candidate, actor, description.status, []);
  if (deleted === "active")
    return { ...about(candidate), outcome: "LEFT", status: "ACTIVE", detail: "became ACTIVE in IoT Core" };
  const holders = await judgeHolders(deps, candidate.certificateId, description.certificateArn);
  if (holders.kind === "leave")
    return { ...about(candidate), outcome: "LEFT", status: description.status, detail: holders.why };
  // No Thing holds it, yet IoT Core refuses (the delete forces policies off): a detach of an
  // earlier run still propagating, or a refusal we do not know. A person looks.
  if (holders.things.length === 0)
    return {
      ...about(candidate),
      outcome: "LEFT",
      status: description.status,
      detail: "IoT Core refuses to delete it, and no Thing holds it",
    };
  for (const thing of holders.things)
    await deps.registry.detachThingPrincipal(thing, description.certificateArn);
  return { ...about(candidate), outcome: "DETACHED", status: description.status, detached: holders.things };
};

/** The second try at deleting a certificate detached in this run. */
const deleteDetached = async (
  deps: RetirementDeps,
  candidate: RetirableCertificate,
  item: RetirementItem,
  actor: string,
): Promise<RetirementItem> => {
  const deleted = await deps.registry.deleteCertificate(candidate.certificateId);
  if (deleted === "deleted" || deleted === "gone")
    return recordRetired(deps, candidate, actor, item.status, item.detached ?? []);
  if (deleted === "active")
    return { ...item, outcome: "LEFT", status: "ACTIVE", detail: "became ACTIVE in IoT Core" };
  return { ...item, detail: "IoT Core has not let go of it yet: deleted on a later run" };
};

/** The Things holding the certificate, when every one of them lets it go. */
const judgeHolders = async (
  deps: RetirementDeps,
  certificateId: CertificateId,
  certificateArn: string,
): Promise<{ kind: "detach"; things: DeviceId[] } | { kind: "leave"; why: string }> => {
  const things = await deps.inventory.certificateThings(certificateArn);
  for (const thing of things) {
    const verdict = judgeHolder(certificateId, thing, await deps.store.getDevice(thing));
    if (verdict.kind === "leave") return verdict;
  }
  return { kind: "detach", things };
};

const recordRetired = async (
  deps: RetirementDeps,
  candidate: RetirableCertificate,
  actor: string,
  status: CertificateStatus | "DELETED" | undefined,
  detached: readonly DeviceId[],
): Promise<RetirementItem> => {
  const at = deps.clock.now().toISOString();
  const gone = status === "DELETED";
  const event: DeviceEvent | undefined = candidate.deviceId && {
    deviceId: candidate.deviceId,
    at,
    type: "CERTIFICATE_RETIRED",
    actor,
    certificateId: candidate.certificateId,
    reason: `${candidate.why.toLowerCase()} ${candidate.since}; ${gone ? "IoT Core no longer had it" : `deleted from IoT Core${detached.length > 0 ? ` (detached from ${detached.join(", ")})` : ""}`}`,
  };
  await deps.store.recordRetired(candidate, at, event);
  return {
    ...about(candidate),
    outcome: "RETIRED",
    ...(status ? { status } : {}),
    ...(detached.length > 0 ? { detached } : {}),
  };
};
