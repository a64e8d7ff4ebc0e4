import { createHash } from "node:crypto";
import type { CaDescription, CertificateDescription, DeviceRegistry } from "#app/ports.js";
import { DependencyRejectedError, NotFoundError } from "#domain/errors.js";
import type { CaCertificateId, CertificateId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";

type Method = keyof DeviceRegistry;

/**
 * IoT Core's registry in memory, with AWS's rules where provisioning depends on them (a REVOKED
 * certificate stays revoked), a log of calls, and failures to inject per call.
 */
export class FakeRegistry implements DeviceRegistry {
  readonly certificates = new Map<
    string,
    { pem: string; status: CertificateStatus; caCertificateId: CaCertificateId }
  >();
  readonly cas = new Map<string, CaDescription>();
  readonly things = new Map<string, Record<string, string>>();
  /** Thing name -> the groups it is in. */
  readonly groups = new Map<string, Set<string>>();

  readonly thingAttachments = new Set<string>();
  readonly calls: Method[] = [];
  private readonly failures: { method: Method; error: Error }[] = [];

  static readonly ACCOUNT = "123456789012";

  /** Changes a status behind the use case's back, as an operator or IoT Core itself would. */
  setStatus(certificateId: string, status: CertificateStatus): void {
    const certificate = this.certificates.get(certificateId);
    if (!certificate) throw new Error(`no certificate ${certificateId}`);
    certificate.status = status;
  }

  setCaStatus(caCertificateId: string, status: CaDescription["status"]): void {
    const ca = this.cas.get(caCertificateId);
    if (!ca) throw new Error(`no CA ${caCertificateId}`);
    this.cas.set(caCertificateId, { ...ca, status });
  }

  /** The next call of `method` throws `error`. */
  failNext(method: Method, error: Error): void {
    this.failures.push({ method, error });
  }

  private enter(method: Method): void {
    this.calls.push(method);
    const index = this.failures.findIndex((failure) => failure.method === method);
    if (index >= 0) {
      const [failure] = this.failures.splice(index, 1);
      throw failure?.error;
    }
  }

  static arn(certificateId: string): string {
    return `arn:aws:iot:eu-west-1:${FakeRegistry.ACCOUNT}:cert/${certificateId}`;
  }

  async describeCertificate(certificateId: CertificateId): Promise<CertificateDescription> {
    this.enter("describeCertificate");
    const certificate = this.certificates.get(certificateId);
    if (!certificate) throw new NotFoundError(`certificate ${certificateId}`);
    return {
      certificateId,
      certificateArn: FakeRegistry.arn(certificateId),
      status: certificate.status,
      pem: certificate.pem,
      caCertificateId: certificate.caCertificateId,
    };
  }

  async describeCaCertificate(caCertificateId: CaCertificateId): Promise<CaDescription> {
    this.enter("describeCaCertificate");
    const ca = this.cas.get(caCertificateId);
    if (!ca) throw new NotFoundError(`CA ${caCertificateId}`);
    return ca;
  }

  async createThing(thingName: string, attributes: Readonly<Record<string, string>>): Promise<void> {
    this.enter("createThing");
    // As the adapter does: a Thing that exists (JITP made it) takes these attributes, merged.
    this.things.set(thingName, { ...this.things.get(thingName), ...attributes });
  }

  async addThingToGroup(thingGroupName: string, thingName: string): Promise<void> {
    this.enter("addThingToGroup");
    if (!this.things.has(thingName)) throw new NotFoundError(`thing ${thingName}`);
    this.groups.set(thingName, (this.groups.get(thingName) ?? new Set()).add(thingGroupName));
  }

  async attachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    this.enter("attachThingPrincipal");
    if (!this.things.has(thingName)) throw new NotFoundError(`thing ${thingName}`);
    this.thingAttachments.add(`${thingName}|${certificateArn}`);
  }

  async registerCertificate(certificatePem: string, caCertificatePem: string): Promise<CertificateId> {
    this.enter("registerCertificate");
    const certificateId = createHash("sha256")
      .update(Buffer.from(certificatePem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64"))
      .digest("hex") as CertificateId;
    const ca = [...this.cas.values()].find((candidate) => candidate.pem.trim() === caCertificatePem.trim());
    if (!ca) throw new NotFoundError("CA not registered");
    if (!this.certificates.has(certificateId)) {
      this.certificates.set(certificateId, {
        pem: certificatePem,
        status: "INACTIVE",
        caCertificateId: ca.caCertificateId,
      });
    }
    return certificateId;
  }

  async detachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    this.enter("detachThingPrincipal");
    this.thingAttachments.delete(`${thingName}|${certificateArn}`);
  }

  async deleteThing(thingName: string): Promise<void> {
    this.enter("deleteThing");
    if ([...this.thingAttachments].some((attachment) => attachment.startsWith(`${thingName}|`))) {
      throw new DependencyRejectedError("InvalidRequestException: the Thing still has principals attached");
    }
    this.things.delete(thingName);
    this.groups.delete(thingName);
  }

  /** As IoT Core deletes: never an ACTIVE certificate, never one attached to a Thing. */
  async deleteCertificate(certificateId: CertificateId): Promise<"deleted" | "gone" | "active" | "attached"> {
    this.enter("deleteCertificate");
    const certificate = this.certificates.get(certificateId);
    if (!certificate) return "gone";
    if (certificate.status === "ACTIVE") return "active";
    const arn = FakeRegistry.arn(certificateId);
    if ([...this.thingAttachments].some((attachment) => attachment.endsWith(`|${arn}`))) return "attached";
    this.certificates.delete(certificateId);
    return "deleted";
  }

  async updateCertificateStatus(
    certificateId: CertificateId,
    status: "ACTIVE" | "INACTIVE" | "REVOKED",
  ): Promise<void> {
    this.enter("updateCertificateStatus");
    const certificate = this.certificates.get(certificateId);
    if (!certificate) throw new NotFoundError(`certificate ${certificateId}`);
    if (certificate.status === "REVOKED" && status !== "REVOKED") {
      throw new DependencyRejectedError("CertificateStateException: certificate is revoked");
    }
    certificate.status = status;
  }
}
