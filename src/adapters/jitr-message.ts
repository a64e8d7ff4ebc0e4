import * as z from "zod/mini";
import type { RegisteredCertificate } from "#app/provision-certificate.js";
import { isCaCertificateId, isCertificateId } from "#domain/ids.js";
import "#domain/validation.js";

/**
 * The message IoT Core publishes on $aws/events/certificates/registered/<caCertificateId>. Only
 * what provisioning uses is read: the two ids. Every other field (timestamps that are null on the
 * first connect, a status, an account, fields added later) is ignored, so no change in them can
 * cost a device its provisioning.
 */
export const jitrMessageSchema = z.object({
  certificateId: z.string().check(z.refine(isCertificateId, "must be 64 lower-case hex characters")),
  caCertificateId: z.string().check(z.refine(isCaCertificateId, "must be 64 lower-case hex characters")),
});

export type JitrParse = { ok: true; certificate: RegisteredCertificate } | { ok: false; why: string };

/** Parses an SQS record body into the certificate to provision, or says why it cannot. */
export const parseJitrMessage = (body: string): JitrParse => {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, why: "body is not JSON" };
  }
  const parsed = jitrMessageSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      why: parsed.error.issues
        .map((issue) => `${issue.path.join(".") || "body"} ${issue.message}`)
        .join("; "),
    };
  }
  const { certificateId, caCertificateId } = parsed.data;
  return { ok: true, certificate: { certificateId, caCertificateId } as RegisteredCertificate };
};
