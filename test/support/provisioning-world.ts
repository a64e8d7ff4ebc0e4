import { createCaDirectory } from "#app/ca-directory.js";
import type { ProvisioningDeps } from "#app/provision-certificate.js";
import { certificateIdOf } from "#domain/certificate.js";
import { DEFAULT_CERTIFICATE_POLICY } from "#domain/certificate-checks.js";
import type { Device } from "#domain/device.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { createCa, type DeviceOptions, type Issuer, issueDeviceCertificate } from "#local/dev-pki.js";
import { FakeRegistry } from "./fake-registry.js";
import { InMemoryLifecycleStore } from "./in-memory-store.js";

export const POLICY_NAME = "fleetgate-device";
export const THING_GROUP = "fleetgate-devices";
export const WAIT_LIMIT_MS = 30 * 86_400_000;

/** A CA, an in-memory registry and store, and the deps wired over them: the use case's world. */
export interface ProvisioningWorld {
  readonly ca: Issuer;
  readonly caCertificateId: CaCertificateId;
  readonly registry: FakeRegistry;
  readonly store: InMemoryLifecycleStore;
  readonly deps: ProvisioningDeps;
  /** Puts a device on the allowlist. */
  allow(deviceId: string, overrides?: Partial<Device>): Device;
  /** Makes a device certificate and registers it PENDING_ACTIVATION, as IoT Core does on first connect. */
  connect(
    options?: DeviceOptions,
    issuer?: Issuer,
  ): Promise<{ certificateId: CertificateId; caCertificateId: CaCertificateId; pem: string }>;
}

/** IoT Core's id of a certificate (a CA's too). */
export const idOf = (pem: string): string => certificateIdOf(pem);

export const createProvisioningWorld = async (
  now: () => Date = () => new Date(),
): Promise<ProvisioningWorld> => {
  const ca = await createCa();
  const caCertificateId = idOf(ca.pem) as CaCertificateId;
  const registry = new FakeRegistry();
  registry.cas.set(caCertificateId, { caCertificateId, status: "ACTIVE", pem: ca.pem });
  const store = new InMemoryLifecycleStore();
  const clock = { now };
  const deps: ProvisioningDeps = {
    registry,
    store,
    clock,
    cas: createCaDirectory(registry, clock),
    thingGroupName: THING_GROUP,
    certificatePolicy: DEFAULT_CERTIFICATE_POLICY,
    waitLimitMs: WAIT_LIMIT_MS,
  };
  return {
    ca,
    caCertificateId,
    registry,
    store,
    deps,
    allow(deviceId, overrides = {}) {
      const device: Device = {
        deviceId: deviceId as DeviceId,
        state: "ALLOWED",
        batchId: "batch-1" as BatchId,
        caCertificateId,
        attributes: { color: "red" },
        model: "m1",
        pins: {},
        version: 1,
        createdAt: now().toISOString(),
        updatedAt: now().toISOString(),
        ...overrides,
      };
      store.devices.set(deviceId, device);
      return device;
    },
    async connect(options = {}, issuer = ca) {
      const device = await issueDeviceCertificate(issuer, options);
      const certificateId = idOf(device.pem) as CertificateId;
      const issuerId = idOf(issuer.pem) as CaCertificateId;
      registry.certificates.set(certificateId, {
        pem: device.pem,
        status: "PENDING_ACTIVATION",
        caCertificateId: issuerId,
      });
      return { certificateId, caCertificateId: issuerId, pem: device.pem };
    },
  };
};
