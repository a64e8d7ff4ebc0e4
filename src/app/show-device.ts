import type { Device, DeviceEvent } from "#domain/device.js";
import { NotFoundError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { certificatesOf } from "#domain/rotation.js";
import { statusOrDeleted } from "./certificate-description.js";
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
  /**
   * During a rotation, its other certificate as IoT Core has it now: the new one while both can
   * connect (until the commit), the replaced one during its grace period.
   */
  readonly rotationCertificate?: {
    readonly role: "new" | "replaced";
    readonly certificateId: string;
    readonly status: CertificateStatus | "DELETED";
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
  const { pending, replaced } = certificatesOf(device);
  const other = pending
    ? { role: "new" as const, ...pending }
    : replaced
      ? { role: "replaced" as const, ...replaced }
      : undefined;
  const [status, otherStatus] = await Promise.all([
    statusOf(deps, bound.certificateId),
    other ? statusOf(deps, other.certificateId) : undefined,
  ]);
  return {
    device,
    certificate: {
      certificateId: bound.certificateId,
      status,
      certificateSha256: bound.certificateSha256,
      notBefore: bound.notBefore,
      notAfter: bound.notAfter,
    },
    ...(other && otherStatus
      ? { rotationCertificate: { role: other.role, certificateId: other.certificateId, status: otherStatus } }
      : {}),
    history,
  };
};

const statusOf = (deps: ShowDeviceDeps, certificateId: CertificateId) =>
  statusOrDeleted(deps.registry, certificateId);

/** One page of a device's history, oldest first; a device that does not exist is not found. */
export const pageHistory = async (
  deps: Pick<ShowDeviceDeps, "store">,
  deviceId: DeviceId,
  page: { readonly limit: number; readonly cursor?: string },
): Promise<Page<DeviceEvent>> => {
  if (!(await deps.store.getDevice(deviceId))) throw new NotFoundError(`device ${deviceId} does not exist`);
  return deps.store.pageEvents(deviceId, page);
};
