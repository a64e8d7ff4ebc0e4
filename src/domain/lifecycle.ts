import { IllegalTransitionError } from "./errors.js";

export const DEVICE_STATES = [
  "ALLOWED",
  "PROVISIONING",
  "ACTIVE",
  "SUSPENDED",
  "REVOKED",
  "DECOMMISSIONED",
] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

export type LifecycleAction =
  | "claim"
  | "activate"
  | "release"
  | "suspend"
  | "reactivate"
  | "revoke"
  | "decommission";

/**
 * The lifecycle state machine. `revoke` also applies before activation (ALLOWED, PROVISIONING):
 * recalling a compromised identity must work whether or not the device has connected yet.
 */
const TRANSITIONS: Record<LifecycleAction, { from: readonly DeviceState[]; to: DeviceState }> = {
  claim: { from: ["ALLOWED"], to: "PROVISIONING" },
  activate: { from: ["PROVISIONING"], to: "ACTIVE" },
  release: { from: ["PROVISIONING"], to: "ALLOWED" },
  suspend: { from: ["ACTIVE"], to: "SUSPENDED" },
  reactivate: { from: ["SUSPENDED"], to: "ACTIVE" },
  revoke: { from: ["ALLOWED", "PROVISIONING", "ACTIVE", "SUSPENDED"], to: "REVOKED" },
  decommission: { from: ["ALLOWED", "PROVISIONING", "ACTIVE", "SUSPENDED", "REVOKED"], to: "DECOMMISSIONED" },
};

export const canTransition = (from: DeviceState, action: LifecycleAction): boolean =>
  TRANSITIONS[action].from.includes(from);

/** The state after `action`, or an IllegalTransitionError naming both. */
export const transition = (from: DeviceState, action: LifecycleAction): DeviceState => {
  const rule = TRANSITIONS[action];
  if (!rule.from.includes(from)) {
    throw new IllegalTransitionError(
      `cannot ${action} a device that is ${from} (allowed from ${rule.from.join(", ")})`,
    );
  }
  return rule.to;
};
