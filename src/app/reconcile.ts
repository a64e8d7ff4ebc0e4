import type { Device, DeviceEvent } from "#domain/device.js";
import { ThrottledError } from "#domain/errors.js";
import { reservationExpired } from "#domain/fleet-decision.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { certificatesOf } from "#domain/rotation.js";
import type {
  Clock,
  ConnectionControl,
  DeviceLedger,
  DeviceRegistry,
  IotInventory,
  ProvisioningLedger,
} from "./ports.js";
import { decodeWalkCursor, encodeWalkCursor } from "./walk-cursor.js";

/**
 * The reconciler: compares IoT Core with the lifecycle table and reports each drift with what it
 * proposes. It repairs only when asked, and only what cannot be wrong: an ACTIVE certificate of a
 * device that is REVOKED or DECOMMISSIONED (terminal states: that identity cannot come back) is
 * revoked, after reading the device and the certificate again. A read that fails decides nothing:
 * the item is reported as unchecked, never repaired.
 */
export const DRIFT_KINDS = [
  /** A REVOKED or DECOMMISSIONED device's certificate is ACTIVE in IoT Core. Repaired: revoked. */
  "REVOKED_DEVICE_CERTIFICATE_ACTIVE",
  /** An ACTIVE certificate attached to a device's Thing that no record names. */
  "UNRECORDED_CERTIFICATE_ACTIVE",
  /** A SUSPENDED device's certificate is ACTIVE: an unfinished reactivation, or a change outside fleetgate. */
  "SUSPENDED_DEVICE_CERTIFICATE_ACTIVE",
  /** An ACTIVE device's certificate is ACTIVE but its Thing is gone or the certificate is not attached to it. */
  "CERTIFICATE_WITHOUT_THING",
  /** An ACTIVE device whose certificate is not ACTIVE in IoT Core (revoked, deactivated or deleted). */
  "RECORD_ACTIVE_CERTIFICATE_NOT_ACTIVE",
  /** A device PROVISIONING for a while whose certificate IoT Core already has ACTIVE. */
  "PROVISIONING_NOT_FINISHED",
  /**
   * A device fleet provisioning gave its certificate (ACTIVE: the template activates it) that has
   * not connected with it by the end of its reservation.
   */
  "RESERVATION_NOT_CONFIRMED",
  /** A Thing in the devices' group that no device record names. */
  "THING_WITHOUT_RECORD",
] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

/** The drifts that let a device connect that should not: the scheduled run's alarm watches these. */
export const SECURITY_DRIFTS: ReadonlySet<DriftKind> = new Set([
  "REVOKED_DEVICE_CERTIFICATE_ACTIVE",
  "UNRECORDED_CERTIFICATE_ACTIVE",
  "SUSPENDED_DEVICE_CERTIFICATE_ACTIVE",
]);

/** The only drift a repair changes. */
export const REPAIRABLE_DRIFTS: ReadonlySet<DriftKind> = new Set(["REVOKED_DEVICE_CERTIFICATE_ACTIVE"]);

export interface Drift {
  readonly kind: DriftKind;
  readonly security: boolean;
  readonly repairable: boolean;
  /** The device, or the Thing's name when no record names it. */
  readonly deviceId: DeviceId;
  /** The record's state; absent for a Thing without a record. */
  readonly state?: DeviceState;
  readonly certificateId?: CertificateId;
  /** IoT Core's status of that certificate; DELETED when IoT Core no longer has it. */
  readonly certificateStatus?: CertificateStatus | "DELETED";
  /** What was found. */
  readonly detail: string;
  /** What the reconciler proposes. */
  readonly action: string;
  /** What a repair did, when one was asked for this drift. */
  readonly repair?: RepairOutcome;
}

export interface RepairOutcome {
  readonly outcome: "REVOKED" | "SKIPPED" | "FAILED";
  readonly detail: string;
}

/** An item a read failed for: nothing was decided about it. */
export interface Unchecked {
  readonly deviceId: DeviceId;
  readonly why: string;
}

export interface ReconcileReport {
  readonly drifts: readonly Drift[];
  readonly unchecked: readonly Unchecked[];
  /** Device records and Things examined. */
  readonly examined: number;
  /** Where the next call goes on; absent when the pass is done. */
  readonly cursor?: string;
}

export interface ReconcileDeps {
  readonly inventory: Pick<IotInventory, "pageThingsInGroup" | "thingCertificates" | "certificateStatus">;
  readonly store: Pick<DeviceLedger, "pageDevices" | "getDevice">;
  readonly clock: Clock;
  /** The devices' thing group, which holds the device policy. */
  readonly thingGroupName: string;
  /** What a repair uses; a caller that only reports (the schedule) has none. */
  readonly repairs?: {
    readonly registry: Pick<DeviceRegistry, "updateCertificateStatus">;
    readonly events: Pick<ProvisioningLedger, "recordEvent">;
    readonly connections: ConnectionControl;
  };
}

export interface ReconcileRequest {
  /** Device records and Things to examine at most in this call. */
  readonly limit: number;
  readonly cursor?: string;
  /** Repair what is safe to repair. */
  readonly repair?: boolean;
  /** Who asked, recorded on every repair. */
  readonly actor: string;
  /** Start no new page after this instant (the clock's milliseconds). */
  readonly deadline?: number;
}

// A device whose certificate is ACTIVE while its record still says PROVISIONING is being
// provisioned right now; after this long, provisioning stopped before recording it.
export const PROVISIONING_GRACE_MS = 15 * 60_000;

type Step = { readonly kind: "records"; readonly state: DeviceState } | { readonly kind: "things" };

// Security first: a pass cut short by its time budget has looked at what matters most.
const STEPS: readonly Step[] = [
  { kind: "records", state: "REVOKED" },
  { kind: "records", state: "DECOMMISSIONED" },
  { kind: "records", state: "SUSPENDED" },
  { kind: "things" },
  { kind: "records", state: "ACTIVE" },
  { kind: "records", state: "PROVISIONING" },
];
const WALK = "reconcile";
const PAGE = 25;

/** One bounded part of a pass over every device record and every Thing of the devices' group. */
export const reconcile = async (deps: ReconcileDeps, request: ReconcileRequest): Promise<ReconcileReport> => {
  const repair = repairer(deps, request);
  let position = decodeWalkCursor(WALK, STEPS.length, request.cursor);
  const drifts: Drift[] = [];
  const unchecked: Unchecked[] = [];
  let examined = 0;
  for (;;) {
    const step = STEPS[position.step] as Step;
    const options = {
      limit: Math.min(PAGE, request.limit - examined),
      ...(position.inner ? { cursor: position.inner } : {}),
    };
    const { checks, cursor } =
      step.kind === "records"
        ? await deps.store.pageDevices({ state: step.state }, options).then((page) => ({
            checks: page.items.map((device) => () => checkRecord(deps, device)),
            cursor: page.cursor,
          }))
        : await deps.inventory.pageThingsInGroup(deps.thingGroupName, options).then((page) => ({
            checks: page.items.map((thingName) => () => checkThing(deps, thingName)),
            cursor: page.cursor,
          }));
    // The page's items are checked together; the inventory's limiters pace their IoT calls.
    for (const result of await Promise.all(checks.map((check) => check()))) {
      examined += 1;
      if ("why" in result) unchecked.push(result);
      else for (const drift of result) drifts.push(await repair(drift));
    }
    if (cursor) position = { step: position.step, inner: cursor };
    else if (position.step + 1 < STEPS.length) position = { step: position.step + 1 };
    else return { drifts, unchecked, examined };
    const outOfTime = request.deadline !== undefined && deps.clock.now().getTime() >= request.deadline;
    if (examined >= request.limit || outOfTime)
      return { drifts, unchecked, examined, cursor: encodeWalkCursor(WALK, position) };
  }
};

/** The same checks for one device (or a Thing of that name without a record). */
export const reconcileDevice = async (
  deps: ReconcileDeps,
  deviceId: DeviceId,
  request: Pick<ReconcileRequest, "repair" | "actor">,
): Promise<ReconcileReport> => {
  const repair = repairer(deps, request);
  const device = await deps.store.getDevice(deviceId);
  const result = device ? await checkRecord(deps, device) : await checkThing(deps, deviceId, null);
  if ("why" in result) return { drifts: [], unchecked: [result], examined: 1 };
  const drifts: Drift[] = [];
  for (const drift of result) drifts.push(await repair(drift));
  return { drifts, unchecked: [], examined: 1 };
};

type CheckResult = Drift[] | Unchecked;

/** Reads what IoT Core has for a device and compares it with its record. */
const checkRecord = async (deps: ReconcileDeps, device: Device): Promise<CheckResult> => {
  const bound = device.certificate?.certificateId;
  try {
    // A decommissioned device's Thing was deleted on purpose: only its certificate is left to check.
    const attached =
      device.state === "DECOMMISSIONED" ? [] : await deps.inventory.thingCertificates(device.deviceId);
    const ids = [...new Set([...(bound ? [bound] : []), ...(attached ?? [])])];
    const statuses = await statusesOf(deps, ids);
    return compareRecord(deps, device, attached, statuses);
  } catch (error) {
    return uncheckedOrThrow(device.deviceId, error);
  }
};

/**
 * A Thing of the devices' group: one without a record is a drift; one with a record is checked by
 * its state's step. `known` is the record when it was read already (null: there is none).
 */
const checkThing = async (
  deps: ReconcileDeps,
  thingName: DeviceId,
  known?: Device | null,
): Promise<CheckResult> => {
  try {
    const device = known === undefined ? await deps.store.getDevice(thingName) : (known ?? undefined);
    // An ALLOWED device has no step of its own: its Thing is looked at here.
    if (device && device.state !== "ALLOWED") return [];
    const attached = await deps.inventory.thingCertificates(thingName);
    // Neither a record nor a Thing: nothing to compare.
    if (!attached) return [];
    const statuses = await statusesOf(deps, attached);
    const active = attached.filter((id) => statuses.get(id) === "ACTIVE");
    const unrecorded = active.map((certificateId) =>
      drift("UNRECORDED_CERTIFICATE_ACTIVE", {
        deviceId: thingName,
        ...(device ? { state: device.state } : {}),
        certificateId,
        certificateStatus: "ACTIVE",
        detail: device
          ? `certificate ${certificateId} is ACTIVE on Thing ${thingName}, whose device is ${device.state} and holds no certificate`
          : `certificate ${certificateId} is ACTIVE on Thing ${thingName}, which no device record names`,
      }),
    );
    if (device) return unrecorded;
    return [
      drift("THING_WITHOUT_RECORD", {
        deviceId: thingName,
        detail: `Thing ${thingName} is in the devices' group ${deps.thingGroupName} with ${
          attached.length === 0
            ? "no certificate"
            : `${attached.length} certificates (${active.length} ACTIVE)`
        }, and no device record names it`,
      }),
      ...unrecorded,
    ];
  } catch (error) {
    return uncheckedOrThrow(thingName, error);
  }
};

/**
 * A read that failed leaves its item unchecked (reported, never repaired). One refused for want of
 * IoT quota (throttled, or no slot of the budget in time) ends the page instead: the walk goes on
 * from the page's start later, rather than passing over items it never read.
 */
const uncheckedOrThrow = (deviceId: DeviceId, error: unknown): Unchecked => {
  if (error instanceof ThrottledError) throw error;
  return { deviceId, why: messageOf(error) };
};

const statusesOf = async (
  deps: ReconcileDeps,
  ids: readonly CertificateId[],
): Promise<Map<CertificateId, CertificateStatus | "DELETED">> =>
  new Map(
    await Promise.all(
      ids.map(
        async (id) => [id, (await deps.inventory.certificateStatus(id)) ?? ("DELETED" as const)] as const,
      ),
    ),
  );

const compareRecord = (
  deps: ReconcileDeps,
  device: Device,
  attached: readonly CertificateId[] | undefined,
  statuses: ReadonlyMap<CertificateId, CertificateStatus | "DELETED">,
): Drift[] => {
  const { deviceId, state } = device;
  const bound = device.certificate?.certificateId;
  const boundStatus = bound ? statuses.get(bound) : undefined;
  const about = (certificateId: CertificateId) => ({
    deviceId,
    state,
    certificateId,
    certificateStatus: statuses.get(certificateId) ?? ("DELETED" as const),
  });
  // A rotation's new certificate is the device's too until the commit (both connect: the overlap).
  const rotating = certificatesOf(device).pending?.certificateId;
  const activeOthers = [...statuses]
    .filter(([id, status]) => id !== bound && id !== rotating && status === "ACTIVE")
    .map(([id]) => id);

  if (state === "REVOKED" || state === "DECOMMISSIONED")
    return [...statuses]
      .filter(([, status]) => status === "ACTIVE")
      .map(([id]) =>
        drift("REVOKED_DEVICE_CERTIFICATE_ACTIVE", {
          ...about(id),
          detail: `device ${deviceId} is ${state} but certificate ${id}${id === bound ? ", its own," : `, attached to its Thing,`} is ACTIVE`,
        }),
      );

  const unrecorded = activeOthers.map((id) =>
    drift("UNRECORDED_CERTIFICATE_ACTIVE", {
      ...about(id),
      detail: `certificate ${id} is ACTIVE on Thing ${deviceId}, but device ${deviceId} holds ${bound ?? "no certificate"}`,
    }),
  );
  const found: Drift[] = [];
  if (bound && state === "ACTIVE") {
    if (boundStatus !== "ACTIVE")
      found.push(
        drift("RECORD_ACTIVE_CERTIFICATE_NOT_ACTIVE", {
          ...about(bound),
          detail: `device ${deviceId} is ACTIVE but its certificate ${bound} is ${boundStatus} in IoT Core`,
          action: notActiveAction(deviceId, bound, boundStatus),
        }),
      );
    else if (!attached?.includes(bound))
      found.push(
        drift("CERTIFICATE_WITHOUT_THING", {
          ...about(bound),
          detail: attached
            ? `certificate ${bound} of device ${deviceId} is ACTIVE but not attached to Thing ${deviceId}`
            : `certificate ${bound} of device ${deviceId} is ACTIVE but Thing ${deviceId} does not exist`,
        }),
      );
  }
  if (bound && state === "SUSPENDED" && boundStatus === "ACTIVE")
    found.push(
      drift("SUSPENDED_DEVICE_CERTIFICATE_ACTIVE", {
        ...about(bound),
        detail: `device ${deviceId} is SUSPENDED but its certificate ${bound} is ACTIVE`,
      }),
    );
  if (bound && state === "PROVISIONING" && boundStatus === "ACTIVE") {
    const now = deps.clock.now();
    // Fleet provisioning's template activates the certificate; the device's first connection with
    // it confirms the reservation. Until then, PROVISIONING with an ACTIVE certificate is expected.
    const reservedUntil = device.certificate?.reservedUntil;
    if (reservationExpired(device, now))
      found.push(
        drift("RESERVATION_NOT_CONFIRMED", {
          ...about(bound),
          detail: `device ${deviceId} took certificate ${bound} through fleet provisioning and has not connected with it; its reservation ended at ${reservedUntil}`,
        }),
      );
    else if (
      reservedUntil === undefined &&
      now.getTime() - Date.parse(device.updatedAt) > PROVISIONING_GRACE_MS
    )
      found.push(
        drift("PROVISIONING_NOT_FINISHED", {
          ...about(bound),
          detail: `device ${deviceId} has been PROVISIONING since ${device.updatedAt} but its certificate ${bound} is ACTIVE`,
        }),
      );
  }
  return [...found, ...unrecorded];
};

const ACTIONS: Record<DriftKind, (deviceId: DeviceId, certificateId?: CertificateId) => string> = {
  REVOKED_DEVICE_CERTIFICATE_ACTIVE: () =>
    "Revoke the certificate: the device's identity cannot come back (fleetgate reconcile --repair revokes it and records it in the device's history).",
  UNRECORDED_CERTIFICATE_ACTIVE: (_, certificateId) =>
    `A certificate fleetgate never approved can connect as this Thing with the device policy: revoke it (aws iot update-certificate --certificate-id ${certificateId} --new-status REVOKED) unless someone attached it on purpose.`,
  SUSPENDED_DEVICE_CERTIFICATE_ACTIVE: (deviceId, certificateId) =>
    `The device is suspended but can connect: if a reactivation did not finish, finish it (fleetgate device reactivate ${deviceId}); otherwise deactivate the certificate again (aws iot update-certificate --certificate-id ${certificateId} --new-status INACTIVE).`,
  CERTIFICATE_WITHOUT_THING: (deviceId, certificateId) =>
    `The device connects without the device policy, which comes with its Thing: recreate Thing ${deviceId} in the devices' group and attach certificate ${certificateId} to it (aws iot create-thing, add-thing-to-thing-group, attach-thing-principal), or decommission the device (fleetgate device decommission ${deviceId}).`,
  RECORD_ACTIVE_CERTIFICATE_NOT_ACTIVE: (deviceId, certificateId) =>
    `Look at the certificate (fleetgate cert show ${certificateId}) and record what happened to device ${deviceId}.`,
  PROVISIONING_NOT_FINISHED: () =>
    "Provisioning stopped after activating the certificate: redrive the JITR dead-letter queue (fleetgate dlq redrive jitr) so that it resumes and records the device ACTIVE.",
  RESERVATION_NOT_CONFIRMED: (deviceId) =>
    `Its first connection with the certificate still makes it ACTIVE. If the device was lost before it connected, revoke it (fleetgate device revoke ${deviceId} --reason "…"): the certificate can connect as the device.`,
  THING_WITHOUT_RECORD: (deviceId) =>
    `Find where Thing ${deviceId} came from; if it is not a device of this fleet, take it out of the devices' group (aws iot remove-thing-from-thing-group) so that it loses the device policy.`,
};

const notActiveAction = (
  deviceId: DeviceId,
  certificateId: CertificateId,
  status: CertificateStatus | "DELETED" | undefined,
): string => {
  switch (status) {
    case "REVOKED":
      return `Record the revocation: fleetgate device revoke ${deviceId} --reason "…" (or decommission it).`;
    case "INACTIVE":
      return `Record the suspension (fleetgate device suspend ${deviceId} --reason "…"), or, if it was deactivated by mistake, activate certificate ${certificateId} again (aws iot update-certificate --new-status ACTIVE).`;
    case "DELETED":
      return `The certificate is gone from IoT Core: decommission the device (fleetgate device decommission ${deviceId} --reason "…").`;
    default:
      return ACTIONS.RECORD_ACTIVE_CERTIFICATE_NOT_ACTIVE(deviceId, certificateId);
  }
};

const drift = (
  kind: DriftKind,
  found: Omit<Drift, "kind" | "security" | "repairable" | "action"> & { readonly action?: string },
): Drift => ({
  kind,
  security: SECURITY_DRIFTS.has(kind),
  repairable: REPAIRABLE_DRIFTS.has(kind),
  ...found,
  action: found.action ?? ACTIONS[kind](found.deviceId, found.certificateId),
});

/**
 * Repairs a drift when asked and it is repairable: the device and the certificate are read again
 * first, and anything but a terminal device with a certificate still ACTIVE is left as it is.
 */
const repairer =
  (deps: ReconcileDeps, request: Pick<ReconcileRequest, "repair" | "actor">) =>
  async (found: Drift): Promise<Drift> => {
    if (!request.repair || !found.repairable || !found.certificateId) return found;
    const outcome = await revokeLeftover(deps, found.deviceId, found.certificateId, request.actor);
    return { ...found, repair: outcome };
  };

const revokeLeftover = async (
  deps: ReconcileDeps,
  deviceId: DeviceId,
  certificateId: CertificateId,
  actor: string,
): Promise<RepairOutcome> => {
  const repairs = deps.repairs;
  if (!repairs) return { outcome: "SKIPPED", detail: "this caller only reports" };
  try {
    const device = await deps.store.getDevice(deviceId);
    if (device?.state !== "REVOKED" && device?.state !== "DECOMMISSIONED")
      return { outcome: "SKIPPED", detail: `device ${deviceId} is ${device?.state ?? "gone"} now` };
    const status = await deps.inventory.certificateStatus(certificateId);
    if (status !== "ACTIVE")
      return { outcome: "SKIPPED", detail: `certificate ${certificateId} is ${status ?? "DELETED"} now` };
    await repairs.registry.updateCertificateStatus(certificateId, "REVOKED");
    const connection = await repairs.connections.disconnect(deviceId);
    const event: DeviceEvent = {
      deviceId,
      at: deps.clock.now().toISOString(),
      type: "CERTIFICATE_REVOKED",
      actor,
      reason: `reconcile: certificate ACTIVE while the device is ${device.state}`,
      certificateId,
    };
    await repairs.events.recordEvent(event);
    return {
      outcome: "REVOKED",
      detail: `certificate ${certificateId} revoked${connection === "dropped" ? ", live connection dropped" : ""}`,
    };
  } catch (error) {
    return { outcome: "FAILED", detail: messageOf(error) };
  }
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
