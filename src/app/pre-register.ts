import type { RowIssue } from "#domain/batch.js";
import type { CaCertificateId } from "#domain/ids.js";
import { describeRefusal } from "#domain/refusal.js";
import { type ProvisioningDeps, provisionCertificate } from "./provision-certificate.js";
import type { SuppliedCertificate } from "./register-batch.js";

export interface PreRegistration {
  readonly registered: number;
  readonly refused: number;
  readonly issues: readonly RowIssue[];
}

/**
 * Registers the certificates a manifest brought (secure-element vendors supply them) and
 * provisions their devices now, through the same checks and steps as a first connection: the
 * device then connects without waiting for JITR, and a JITR event for it finds it ACTIVE.
 * One certificate at a time: the IoT rate limiters pace the whole batch within the quotas.
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
  for (const certificate of certificates) {
    const certificateId = await deps.registry.registerCertificate(certificate.pem, ca.pem);
    const outcome = await provisionCertificate(deps, { certificateId, caCertificateId, origin: "manifest" });
    if (outcome.kind === "refused") {
      issues.push({
        kind: "certificate",
        line: certificate.line,
        deviceId: certificate.deviceId,
        message: describeRefusal(outcome.refusal),
      });
    } else {
      registered += 1;
    }
  }
  return { registered, refused: issues.length, issues };
};
