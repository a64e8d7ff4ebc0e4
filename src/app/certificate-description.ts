import { NotFoundError } from "#domain/errors.js";
import type { CertificateId } from "#domain/ids.js";
import type { CertificateDescription, DeviceRegistry } from "./ports.js";

/** IoT Core's description of a certificate; undefined when IoT Core has no such certificate (deleted). */
export const describeIfAny = async (
  registry: Pick<DeviceRegistry, "describeCertificate">,
  certificateId: CertificateId,
): Promise<CertificateDescription | undefined> => {
  try {
    return await registry.describeCertificate(certificateId);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
};

/** IoT Core's status of a certificate, or DELETED when it has none of that id. */
export const statusOrDeleted = async (
  registry: Pick<DeviceRegistry, "describeCertificate">,
  certificateId: CertificateId,
) => (await describeIfAny(registry, certificateId))?.status ?? ("DELETED" as const);
