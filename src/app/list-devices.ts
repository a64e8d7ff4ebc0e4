import type { Device } from "#domain/device.js";
import type { DeviceLedger, DeviceQuery, Page } from "./ports.js";

/** One page of the devices in a state or of a batch. */
export const listDevices = (
  deps: { readonly store: Pick<DeviceLedger, "pageDevices"> },
  query: DeviceQuery,
  page: { readonly limit: number; readonly cursor?: string },
): Promise<Page<Device>> => deps.store.pageDevices(query, page);
