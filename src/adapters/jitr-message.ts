import { z } from "zod";
import type { RegisteredCertificate } from "#app/provision-certificate.js";
import { isCaCertificateId, isCertificateId } from "#domain/ids.js";

// IoT Core documents `timestamp` as a number and `certificateRegistrationTimestamp` as a string;
// samples show both ways. Accept either, as long as it is a time.
const timestamp = z.union([z.number(), z.string().regex(/^\d+$/, "must be epoch milliseconds")]);

/** The message IoT Core publishes on $aws/events/certificates/registered/<caCertificateId>. */
export const jitrMessageSchema = z.object({
  certificateId: z.string().refine(isCertificateId, "must be 64 lower-case hex characters"),
  caCertificateId: z.string().refine(isCaCertificateId, "must be 64 lower-case hex characters"),
  certificateStatus: z.string(),
  awsAccountId: z.string().regex(/^\d{12}$/, "must be a 12-digit account id"),
  timestamp: timestamp.optional(),
  certificateRegistrationTimestamp: timestamp.optional(),
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
