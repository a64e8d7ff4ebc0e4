import { describe, expect, it } from "vitest";
import type { Device } from "#domain/device.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { DEVICE_STATES } from "#domain/lifecycle.js";
import { judgeHolder, judgeStatus, retentionCutoff, retirementAfter } from "#domain/retirement.js";

const CERT = "c".repeat(64) as CertificateId;
const THING = "sensor-1" as DeviceId;

const device = (state: Device["state"], certificateId: CertificateId = CERT): Device => ({
  deviceId: THING,
  state,
  batchId: "batch-1" as BatchId,
  caCertificateId: "a".repeat(64) as CaCertificateId,
  attributes: {},
  pins: {},
  certificate: {
    certificateId,
    certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
    certificateSha256: certificateId,
    publicKeySha256: "2".repeat(64),
    notBefore: "2026-01-01T00:00:00.000Z",
    notAfter: "2027-01-01T00:00:00.000Z",
  },
  version: 2,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
});

describe("IoT Core's status of a certificate due for retirement", () => {
  it("ACTIVE: it can connect, so it is left, whatever fleetgate's record says", () => {
    expect(judgeStatus("ACTIVE")).toEqual({ kind: "leave", why: "ACTIVE in IoT Core: it can connect" });
  });

  it("being transferred to another account: left", () => {
    expect(judgeStatus("PENDING_TRANSFER").kind).toBe("leave");
  });

  it.each(["REVOKED", "INACTIVE", "PENDING_ACTIVATION", "REGISTER_INACTIVE"] as const)(
    "%s: deleted",
    (status) => {
      expect(judgeStatus(status)).toEqual({ kind: "delete" });
    },
  );

  it("absent: IoT Core no longer has it", () => {
    expect(judgeStatus(undefined)).toEqual({ kind: "gone" });
  });
});

describe("a Thing that holds a certificate due for retirement", () => {
  it.each(["PROVISIONING", "ACTIVE", "SUSPENDED"] as const)(
    "of a %s device that holds this very certificate: left, it is the device's live one",
    (state) => {
      expect(judgeHolder(CERT, THING, device(state))).toMatchObject({ kind: "leave" });
    },
  );

  it("of a live device that holds another certificate (it was replaced): detached", () => {
    expect(judgeHolder(CERT, THING, device("ACTIVE", "d".repeat(64) as CertificateId))).toEqual({
      kind: "detach",
    });
  });

  it.each(["REVOKED", "DECOMMISSIONED", "ALLOWED"] as const)("of a %s device: detached", (state) => {
    expect(judgeHolder(CERT, THING, device(state))).toEqual({ kind: "detach" });
  });

  it("that fleetgate has no record of: left, it is not fleetgate's", () => {
    expect(judgeHolder(CERT, THING, undefined)).toEqual({
      kind: "leave",
      why: "attached to Thing sensor-1, of which fleetgate has no record",
    });
  });
});

describe("which device transitions retire its certificate", () => {
  it("revoking and decommissioning do; nothing else", () => {
    expect(Object.fromEntries(DEVICE_STATES.map((state) => [state, retirementAfter(state)]))).toEqual({
      ALLOWED: undefined,
      PROVISIONING: undefined,
      ACTIVE: undefined,
      SUSPENDED: undefined,
      REVOKED: "REVOKED",
      DECOMMISSIONED: "DECOMMISSIONED",
    });
  });

  it("a retention counts back from now", () => {
    expect(retentionCutoff(new Date("2026-11-25T12:00:00.000Z"), 30 * 86_400_000)).toBe(
      "2026-10-26T12:00:00.000Z",
    );
  });
});
