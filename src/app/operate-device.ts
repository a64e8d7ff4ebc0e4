import type { Device, DeviceEvent } from "#domain/device.js";
import {
  ConcurrentUpdateError,
  IllegalTransitionError,
  NotFoundError,
  ValidationError,
} from "#domain/errors.js";
import type { DeviceId } from "#domain/ids.js";
import { type DeviceState, transition } from "#domain/lifecycle.js";
import { certificatesOf } from "#domain/rotation.js";
import type { Clock, ConnectionControl, DeviceLedger, DeviceRegistry, DisconnectOutcome } from "./ports.js";

export type OperatorAction = "revoke" | "suspend" | "reactivate" | "decommission";

export interface OperatorCommand {
  readonly deviceId: DeviceId;
  readonly action: OperatorAction;
  readonly reason?: string;
  /** The caller's identity, as the API authenticated it. */
  readonly actor: string;
}

export interface OperationDeps {
  readonly registry: DeviceRegistry;
  readonly connections: ConnectionControl;
  readonly store: Pick<DeviceLedger, "getDevice" | "transition">;
  readonly clock: Clock;
}

export interface OperationResult {
  readonly device: Device;
  /** Whether a live connection was dropped at once; IoT Core drops it within minutes anyway. */
  readonly connection: DisconnectOutcome | "not-attempted";
}

const EVENT_TYPE: Record<OperatorAction, DeviceEvent["type"]> = {
  revoke: "REVOKED",
  suspend: "SUSPENDED",
  reactivate: "REACTIVATED",
  decommission: "DECOMMISSIONED",
};

/** Destructive actions must say why: the history is an audit trail. */
export const REASON_REQUIRED: ReadonlySet<OperatorAction> = new Set(["revoke", "suspend", "decommission"]);
const MAX_ATTEMPTS = 3;

/**
 * An operator's action on a device: the lifecycle transition is checked first (an illegal one
 * changes nothing), IoT Core is changed next (access goes before anything is recorded), and the
 * new state and its event are written last, conditional on the version read. Retrying after a
 * failure repeats only idempotent steps. When another action moved the device meanwhile (a revoke
 * makes IoT Core refuse a reactivation; the write finds another version), the device is read again
 * and the action decided again: an illegal transition now, or another try.
 */
export const operateDevice = (deps: OperationDeps, command: OperatorCommand): Promise<OperationResult> =>
  act(deps, command, IOT_STEPS[command.action]);

/**
 * Revokes one device by the same rules, for the recall worker: only revocation's IoT step is
 * reachable from here, so the worker's code (and role) holds nothing of the other actions.
 */
export const revokeDevice = (
  deps: OperationDeps,
  command: Omit<OperatorCommand, "action">,
): Promise<OperationResult> => act(deps, { ...command, action: "revoke" }, revoke);

const act = async (
  deps: OperationDeps,
  command: OperatorCommand,
  step: IotStep,
): Promise<OperationResult> => {
  const reason = command.reason?.trim();
  if (REASON_REQUIRED.has(command.action) && !reason)
    throw new ValidationError(`reason is required to ${command.action} a device`);
  for (let attempt = 1; ; attempt += 1) {
    const device = await deps.store.getDevice(command.deviceId);
    if (!device) throw new NotFoundError(`device ${command.deviceId} does not exist`);
    const to = transition(device.state, command.action);
    try {
      const connection = await step(deps, device);
      const event: DeviceEvent = {
        deviceId: device.deviceId,
        at: deps.clock.now().toISOString(),
        type: EVENT_TYPE[command.action],
        actor: command.actor,
        from: device.state,
        to,
        ...(reason ? { reason } : {}),
        ...(device.certificate ? { certificateId: device.certificate.certificateId } : {}),
      };
      return { device: await deps.store.transition(device, to, event), connection };
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !(await movedSince(deps, device, error))) throw error;
    }
  }
};

const movedSince = async (deps: OperationDeps, read: Device, error: unknown): Promise<boolean> => {
  if (error instanceof ConcurrentUpdateError) return true;
  try {
    return (await deps.store.getDevice(read.deviceId))?.version !== read.version;
  } catch {
    return false; // the first failure is the one to report
  }
};

/** What an action changes in IoT Core, and whether it dropped a live connection. */
type IotStep = (deps: OperationDeps, device: Device) => Promise<OperationResult["connection"]>;

const reactivate: IotStep = async (deps, device) => {
  await setCertificateStatus(deps, device, "ACTIVE");
  return "not-attempted";
};

const suspend: IotStep = async (deps, device) => {
  await setCertificateStatus(deps, device, "INACTIVE");
  await setRotationCertificates(deps, device, "INACTIVE");
  return deps.connections.disconnect(device.deviceId);
};

const revoke: IotStep = async (deps, device) => {
  await setCertificateStatus(deps, device, "REVOKED");
  await setRotationCertificates(deps, device, "REVOKED");
  return hasConnected(device.state) ? deps.connections.disconnect(device.deviceId) : "not-attempted";
};

const decommission: IotStep = async (deps, device) => {
  await setCertificateStatus(deps, device, "REVOKED");
  await setRotationCertificates(deps, device, "REVOKED");
  const { current, pending, replaced } = certificatesOf(device);
  // The device policy is the group's: deleting the Thing takes it out of the group. IoT Core
  // deletes no Thing that still holds a certificate.
  for (const certificate of [current, pending, replaced])
    if (certificate) await deps.registry.detachThingPrincipal(device.deviceId, certificate.certificateArn);
  await deps.registry.deleteThing(device.deviceId);
  return hasConnected(device.state) ? deps.connections.disconnect(device.deviceId) : "not-attempted";
};

/**
 * A rotation's other certificate goes with the device's access: the new one of the overlap, and
 * (revoked) the replaced one of a grace period. The rotation's timers then find it done: its
 * deadline rolls the rotation back, its grace period's end completes it.
 */
const setRotationCertificates = async (
  deps: OperationDeps,
  device: Device,
  status: "INACTIVE" | "REVOKED",
): Promise<void> => {
  const { pending, replaced } = certificatesOf(device);
  for (const certificate of status === "REVOKED" ? [pending, replaced] : [pending]) {
    if (!certificate) continue;
    try {
      await deps.registry.updateCertificateStatus(certificate.certificateId, status);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  }
};

const IOT_STEPS: Record<OperatorAction, IotStep> = { reactivate, suspend, revoke, decommission };

/**
 * Sets the bound certificate's status in IoT Core. A certificate IoT Core no longer has cannot
 * connect: revoking or suspending it is done; reactivating it is impossible.
 */
const setCertificateStatus = async (
  deps: OperationDeps,
  device: Device,
  status: "ACTIVE" | "INACTIVE" | "REVOKED",
): Promise<void> => {
  const certificate = device.certificate;
  if (!certificate) return;
  try {
    await deps.registry.updateCertificateStatus(certificate.certificateId, status);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    if (status === "ACTIVE") {
      throw new IllegalTransitionError(
        `cannot reactivate device ${device.deviceId}: its certificate ${certificate.certificateId} no longer exists in IoT Core`,
      );
    }
  }
};

// Only a device whose certificate was activated can hold a live connection.
const hasConnected = (state: DeviceState): boolean => state === "ACTIVE" || state === "SUSPENDED";
