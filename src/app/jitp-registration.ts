import type { Device } from "#domain/device.js";
import { DependencyUnavailableError } from "#domain/errors.js";
import type { DeviceId } from "#domain/ids.js";
import type { CertificateDescription, DeviceRegistry } from "./ports.js";

/**
 * Taking apart what fleetgate's JITP template made, for a certificate fleetgate will not provision
 * (now, or ever). Only the JITR function is given it: no other path meets a JITP certificate.
 */
export interface JitpRegistration {
  /**
   * Detaches the certificate from the Thing its identity names, and deletes that Thing when no
   * allowlist entry names it (nothing of fleetgate's lives there). The Thing of a device on the
   * allowlist (the genuine one, when a clone came) stays.
   */
  detach(
    description: CertificateDescription,
    deviceId: DeviceId | undefined,
    device: Device | undefined,
  ): Promise<void>;
  /**
   * Detaches, then deletes the certificate: not revoked, so the device's next connect registers
   * it again. A deletion IoT Core refuses for now (a detach takes seconds to propagate) is retried.
   */
  unregister(
    description: CertificateDescription,
    deviceId: DeviceId | undefined,
    device: Device | undefined,
  ): Promise<void>;
}

export const jitpRegistration = (
  registry: Pick<DeviceRegistry, "detachThingPrincipal" | "deleteThing" | "deleteCertificate">,
): JitpRegistration => {
  const detach: JitpRegistration["detach"] = async (description, deviceId, device) => {
    if (!deviceId) return;
    await registry.detachThingPrincipal(deviceId, description.certificateArn);
    if (!device) await registry.deleteThing(deviceId);
  };
  return {
    detach,
    async unregister(description, deviceId, device) {
      await detach(description, deviceId, device);
      const deleted = await registry.deleteCertificate(description.certificateId);
      if (deleted === "attached" || deleted === "active")
        throw new DependencyUnavailableError(
          `certificate ${description.certificateId} not deleted yet: IoT Core says it is ${deleted}`,
        );
    },
  };
};
