import { type InspectedCertificate, inspectCertificate } from "#domain/certificate.js";
import { ConfigurationError, NotFoundError } from "#domain/errors.js";
import type { CaCertificateId } from "#domain/ids.js";
import { type Refusal, refuse } from "#domain/refusal.js";
import type { Clock, DeviceRegistry } from "./ports.js";

/** A registered CA, or why its devices cannot be provisioned now; `jitp` when IoT Core provisions them from a template. */
export type CaLookup = (
  | { ok: true; ca: InspectedCertificate; pem: string }
  | { ok: false; refusal: Refusal }
) & { readonly jitp: boolean };

export interface CaDirectory {
  lookup(caCertificateId: CaCertificateId): Promise<CaLookup>;
}

/**
 * Registered CAs, cached per container: a burst of first connections under one CA costs one
 * DescribeCACertificate. The time-to-live bounds how long a deactivated CA keeps verifying.
 */
export const createCaDirectory = (registry: DeviceRegistry, clock: Clock, ttlMs = 60_000): CaDirectory => {
  const cache = new Map<CaCertificateId, { expires: number; lookup: Promise<CaLookup> }>();
  return {
    lookup(caCertificateId) {
      const now = clock.now().getTime();
      const hit = cache.get(caCertificateId);
      if (hit && hit.expires > now) return hit.lookup;
      const lookup = describe(registry, caCertificateId);
      cache.set(caCertificateId, { expires: now + ttlMs, lookup });
      // A failed call (throttling, outage) must not be remembered.
      lookup.catch(() => cache.delete(caCertificateId));
      return lookup;
    },
  };
};

/**
 * An inactive CA is an operator's decision: its devices wait. A CA that IoT Core registered but
 * that cannot be found or read is our inconsistency, not the device's fault: it is thrown, so the
 * event is retried and, failing that, kept for a person, and nothing is revoked.
 */
const describe = async (registry: DeviceRegistry, caCertificateId: CaCertificateId): Promise<CaLookup> => {
  let ca: Awaited<ReturnType<DeviceRegistry["describeCaCertificate"]>>;
  try {
    ca = await registry.describeCaCertificate(caCertificateId);
  } catch (error) {
    if (error instanceof NotFoundError)
      throw new ConfigurationError(`CA ${caCertificateId} named by IoT Core is not registered`, {
        cause: error,
      });
    throw error;
  }
  const jitp = ca.jitpTemplate !== undefined;
  if (ca.status !== "ACTIVE")
    return { ok: false, refusal: refuse("CA_NOT_ACTIVE", `CA ${caCertificateId} is ${ca.status}`), jitp };
  const inspection = inspectCertificate(ca.pem);
  if (!inspection.ok)
    throw new ConfigurationError(`registered CA ${caCertificateId} cannot be read: ${inspection.error}`);
  return { ok: true, ca: inspection.certificate, pem: ca.pem, jitp };
};
