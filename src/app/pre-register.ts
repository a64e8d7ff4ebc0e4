import type { RowIssue } from "#domain/batch.js";
import { certificateIdOf } from "#domain/certificate.js";
import type { Device } from "#domain/device.js";
import { DependencyRejectedError } from "#domain/errors.js";
import type { CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { describeRefusal } from "#domain/refusal.js";
import { type ProvisioningDeps, provisionCertificate } from "./provision-certificate.js";

/** A certificate a manifest row brought, for pre-registration after the allowlist is written. */
export interface SuppliedCertificate {
  readonly line: number;
  readonly deviceId: DeviceId;
  readonly pem: string;
}

export interface PreRegistration {
  readonly registered: number;
  readonly refused: number;
  readonly issues: readonly RowIssue[];
}

/**
 * Registers the certificates a manifest brought (secure-element vendors supply them) and
 * provisions their devices now, through the same checks and steps as a first connection: the
 * device then connects without waiting for JITR, and a JITR event for it finds it ACTIVE.
 * A few certificates at once: the deployment's IoT budget paces them, as background work.
 */
export const preRegisterCertificates = async (
  deps: ProvisioningDeps,
  caCertificateId: CaCertificateId,
  certificates: readonly SuppliedCertificate[],
): Promise<PreRegistration> => {
  const issues: RowIssue[] = [];
  let registered = 0;
  const ca = await deps.cas.lookup(caCertificateId);
  if (!ca.ok) {
    const message = `certificate not registered: ${describeRefusal(ca.refusal)}`;
    return {
      registered: 0,
      refused: certificates.length,
      issues: certificates.map((c) => ({
        kind: "certificate" as const,
        line: c.line,
        deviceId: c.deviceId,
        message,
      })),
    };
  }
  await eachAtOnce(certificates, PARALLEL, async (certificate) => {
    const problem = await preRegisterOne(deps, caCertificateId, ca.pem, certificate);
    if (problem === undefined) registered += 1;
    else
      issues.push({
        kind: "certificate",
        line: certificate.line,
        deviceId: certificate.deviceId,
        message: problem,
      });
  });
  issues.sort((a, b) => a.line - b.line);
  return { registered, refused: issues.length, issues };
};

// Certificates provisioned at once: enough to keep the IoT budget's background slots busy at
// 200 ms of IoT latency (about 6 calls each); the budget, not this, sets the pace.
const PARALLEL = 8;

/**
 * Runs `work` over the items, `parallel` at a time. The first failure stops the start of new
 * items, lets those running finish (each is idempotent, but a function must not leave work running
 * once it has answered), then is thrown. p-limit and p-map do not drain like this: their queues
 * either run everything or drop what waits without settling it.
 */
const eachAtOnce = async <T>(
  items: readonly T[],
  parallel: number,
  work: (item: T) => Promise<void>,
): Promise<void> => {
  const pending = items[Symbol.iterator]();
  const failures: unknown[] = [];
  const worker = async () => {
    for (let item = pending.next(); !item.done && failures.length === 0; item = pending.next()) {
      try {
        await work(item.value);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
};

/**
 * Registers and provisions one certificate; answers why its device is not ACTIVE with it, if it
 * is not. Only that counts as registered: a certificate provisioning left alone (registered and
 * revoked before, say) is not. One an earlier run of the same manifest provisioned costs a read of
 * the table and no IoT call: a large manifest takes several runs, each resuming where the last
 * stopped, and the IoT budget goes to the certificates left.
 */
const preRegisterOne = async (
  deps: ProvisioningDeps,
  caCertificateId: CaCertificateId,
  caPem: string,
  certificate: SuppliedCertificate,
): Promise<string | undefined> => {
  const supplied = certificateIdOf(certificate.pem);
  if (activeWith(await deviceOf(deps, certificate.deviceId, supplied), supplied)) return undefined;
  let certificateId: CertificateId;
  try {
    certificateId = await deps.registry.registerCertificate(certificate.pem, caPem);
  } catch (error) {
    // IoT Core's verdict on this certificate (not signed by the CA, say): the row's problem, not the batch's.
    if (!(error instanceof DependencyRejectedError)) throw error;
    return `IoT Core refused to register it: ${error.message}`;
  }
  const outcome = await provisionCertificate(deps, { certificateId, caCertificateId, origin: "manifest" });
  if ("refusal" in outcome) return describeRefusal(outcome.refusal);
  const device = await deviceOf(deps, certificate.deviceId, certificateId);
  if (activeWith(device, certificateId)) return undefined;
  if ("why" in outcome) return `not provisioned: ${outcome.why}`;
  return `not provisioned: device ${certificate.deviceId} is ${device?.state ?? "not on the allowlist"}`;
};

const deviceOf = async (
  deps: ProvisioningDeps,
  deviceId: DeviceId,
  certificateId: CertificateId,
): Promise<Device | undefined> => (await deps.store.readProvisioningState(certificateId, deviceId)).device;

const activeWith = (device: Device | undefined, certificateId: CertificateId): boolean =>
  device?.state === "ACTIVE" && device.certificate?.certificateId === certificateId;
