import type { Device, DeviceEvent } from "#domain/device.js";
import { NotFoundError } from "#domain/errors.js";
import type { DeviceId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import type { DeviceLedger, DeviceRegistry, Page } from "./ports.js";

export interface DeviceView {
  readonly device: Device;
  /** The bound certificate as IoT Core sees it now; DELETED when IoT Core no longer has it. */
  readonly certificate?: {
    readonly certificateId: string;
    readonly status: CertificateStatus | "DELETED";
    readonly certificateSha256: string;
    readonly notBefore: string;
    readonly notAfter: string;
  };
  /** Oldest first; the most recent `recent` events when a limit is given. */
  readonly history: readonly DeviceEvent[];
}

export interface ShowDeviceDeps {
  readonly store: Pick<DeviceLedger, "getDevice" | "listEvents" | "pageEvents">;
  readonly registry: Pick<DeviceRegistry, "describeCertificate">;
}

/** A device's state, its certificate as IoT Core has it now, and its history. */
export const showDevice = async (
  deps: ShowDeviceDeps,
  deviceId: DeviceId,
  options: { recent?: number } = {},
): Promise<DeviceView> => {
  const device = await deps.store.getDevice(deviceId);
  if (!device) throw new NotFoundError(`device ${deviceId} does not exist`);
  const history =
    options.recent === undefined
      ? await deps.store.listEvents(device.deviceId)
      : [
          ...(await deps.store.pageEvents(device.deviceId, { limit: options.recent, newestFirst: true }))
            .items,
        ].reverse();
  const bound = device.certificate;
  if (!bound) return { device, history };
  const status = await deps.registry.describeCertificate(bound.certificateId).then(
    (description) => description.status,
    (error: unknown) => {
      if (error instanceof NotFoundError) return "DELETED" as const;
      throw error;
    },
  );
  return {
    device,
    certificate: {
      certificateId: bound.certificateId,
      status,
      certificateSha256: bound.certificateSha256,
      notBefore: bound.notBefore,
      notAfter: bound.notAfter,
    },
    history,
  };
};

/** One page of a device's history, oldest first; a device that does not exist is not found. */
export const pageHistory = async (
  deps: Pick<ShowDeviceDeps, "store">,
  deviceId: DeviceId,
  page: { readonly limit: number; readonly cursor?: string },
): Promise<Page<DeviceEvent>> => {
  if (!(await deps.store.getDevice(deviceId))) throw new NotFoundError(`device ${deviceId} does not exist`);
  return deps.store.pageEvents(deviceId, page);
};
