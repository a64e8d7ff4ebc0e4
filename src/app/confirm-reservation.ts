import type { DeviceEvent } from "#domain/device.js";
import { ConcurrentUpdateError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import type { Clock, FleetLedger, ProvisioningLedger } from "./ports.js";

export interface ConfirmDeps {
  readonly fleet: Pick<FleetLedger, "reservationsOf">;
  readonly store: Pick<ProvisioningLedger, "activate">;
  readonly clock: Clock;
}

export interface Confirmation {
  readonly confirmed: readonly DeviceId[];
  /** Certificates whose confirmation failed for a reason of ours: to be tried again. */
  readonly failed: readonly CertificateId[];
}

/**
 * A fleet-provisioned device's first connection with its new certificate (IoT Core's presence
 * event names the certificate) confirms its reservation: the entry becomes ACTIVE. Connections of
 * every other certificate, and events that repeat, change nothing.
 */
export const confirmReservations = async (
  deps: ConfirmDeps,
  connected: readonly CertificateId[],
): Promise<Confirmation> => {
  const reserved = await deps.fleet.reservationsOf(connected);
  const confirmed: DeviceId[] = [];
  const failed: CertificateId[] = [];
  for (const device of reserved) {
    const certificateId = device.certificate?.certificateId as CertificateId;
    const event: DeviceEvent = {
      deviceId: device.deviceId,
      at: deps.clock.now().toISOString(),
      type: "ACTIVATED",
      actor: "fleet-provisioning",
      certificateId,
      from: "PROVISIONING",
      to: "ACTIVE",
      reason: "first connection with the certificate fleet provisioning made for it",
    };
    try {
      await deps.store.activate(device, event);
      confirmed.push(device.deviceId);
    } catch (error) {
      // Confirmed by a concurrent delivery, or moved by an operator meanwhile: nothing left to do.
      if (!(error instanceof ConcurrentUpdateError)) failed.push(certificateId);
    }
  }
  return { confirmed, failed };
};
