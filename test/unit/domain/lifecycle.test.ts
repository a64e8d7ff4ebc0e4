import { describe, expect, it } from "vitest";
import { IllegalTransitionError } from "#domain/errors.js";
import { DEVICE_STATES, type LifecycleAction, transition } from "#domain/lifecycle.js";

describe("lifecycle", () => {
  it.each([
    ["ALLOWED", "claim", "PROVISIONING"],
    ["PROVISIONING", "activate", "ACTIVE"],
    ["PROVISIONING", "release", "ALLOWED"],
    ["ACTIVE", "suspend", "SUSPENDED"],
    ["SUSPENDED", "reactivate", "ACTIVE"],
    ["ACTIVE", "revoke", "REVOKED"],
    ["SUSPENDED", "revoke", "REVOKED"],
    ["PROVISIONING", "revoke", "REVOKED"],
    ["REVOKED", "decommission", "DECOMMISSIONED"],
  ] as const)("%s --%s--> %s", (from, action, to) => {
    expect(transition(from, action)).toBe(to);
  });

  it.each([
    ["REVOKED", "reactivate"],
    ["REVOKED", "claim"],
    ["ALLOWED", "activate"],
    ["ACTIVE", "claim"],
    ["DECOMMISSIONED", "decommission"],
    ["SUSPENDED", "suspend"],
  ] as const)("refuses to %2$s a %1$s device with a message naming both", (from, action) => {
    expect(() => transition(from, action)).toThrow(IllegalTransitionError);
    expect(() => transition(from, action)).toThrow(new RegExp(`cannot ${action} a device that is ${from}`));
  });

  it("lets every state but DECOMMISSIONED be decommissioned", () => {
    const actions: LifecycleAction = "decommission";
    for (const state of DEVICE_STATES.filter((s) => s !== "DECOMMISSIONED")) {
      expect(transition(state, actions)).toBe("DECOMMISSIONED");
    }
  });
});
