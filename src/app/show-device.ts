import type { Device, DeviceEvent } from "#domain/device.js";
import { NotFoundError, ValidationError } from "#domain/errors.js";
import { type DeviceId, isDeviceId } from "#domain/ids.js";
import type { LifecycleStore } from "./ports.js";

export interface DeviceView {
  readonly device: Device;
  readonly history: readonly DeviceEvent[];
}

/** A device's state and its history, oldest first. */
export const showDevice = async (deps: { store: LifecycleStore }, deviceId: string): Promise<DeviceView> => {
  if (!isDeviceId(deviceId))
    throw new ValidationError(`device id ${JSON.stringify(deviceId)} is not a valid Thing name`);
  const device = await deps.store.getDevice(deviceId as DeviceId);
  if (!device) throw new NotFoundError(`device ${deviceId} is not on the allowlist`);
  const events = await deps.store.listEvents(device.deviceId);
  return { device, history: events };
};
