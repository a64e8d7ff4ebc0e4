import type { Device } from "#domain/device.js";
import type { BatchId, CaCertificateId, DeviceId } from "#domain/ids.js";

/** An allowlist entry as a manifest writes it (ALLOWED, version 1), with what a test changes. */
export const allowlistEntry = (deviceId: string, overrides: Partial<Device> = {}): Device => ({
  deviceId: deviceId as DeviceId,
  state: "ALLOWED",
  batchId: "lot-1" as BatchId,
  caCertificateId: "a".repeat(64) as CaCertificateId,
  attributes: {},
  pins: {},
  version: 1,
  createdAt: "2026-11-25T10:00:00.000Z",
  updatedAt: "2026-11-25T10:00:00.000Z",
  ...overrides,
});
