import { describe, expect, it } from "vitest";
import { loadFleetConfig } from "#adapters/config.js";

describe("the fleet provisioning functions' configuration", () => {
  it("gives the hook 2 s to decide and a reservation IoT Core's hour, by default", () => {
    expect(loadFleetConfig({ DEVICES_TABLE: "devices" })).toEqual({
      DEVICES_TABLE: "devices",
      CLOCK_SKEW_SECONDS: 300,
      HOOK_BUDGET_MS: 2000,
      RESERVATION_SECONDS: 3600,
    });
  });

  it("refuses a budget that, with a write's second and the record's half second, would pass IoT Core's 5 s", () => {
    expect(loadFleetConfig({ DEVICES_TABLE: "devices", HOOK_BUDGET_MS: "3000" }).HOOK_BUDGET_MS).toBe(3000);
    expect(() => loadFleetConfig({ DEVICES_TABLE: "devices", HOOK_BUDGET_MS: "3500" })).toThrow(
      /HOOK_BUDGET_MS/,
    );
    expect(() => loadFleetConfig({ DEVICES_TABLE: "devices", RESERVATION_SECONDS: "0" })).toThrow(
      /RESERVATION_SECONDS/,
    );
    expect(() => loadFleetConfig({})).toThrow(/DEVICES_TABLE/);
  });
});
