import * as z from "zod/mini";
import type { RegisteredCertificate } from "#app/provision-certificate.js";
import { type DeviceId, isCaCertificateId, isCertificateId, isDeviceId } from "#domain/ids.js";
import "#domain/validation.js";

/**
 * The messages the JITR queue carries. IoT Core's on $aws/events/certificates/registered/<caId>
 * (JITR, and JITP's registration): only the two ids are read. Every other field (timestamps that
 * are null on the first connect, a status, an account, fields added later) is ignored, so no change
 * in them can cost a device its provisioning. And the registry's on $aws/events/thing/<name>/created
 * for a Thing JITP made (the topic rule takes only those): only its name is read.
 */
export const jitrMessageSchema = z.object({
  certificateId: z.string().check(z.refine(isCertificateId, "must be 64 lower-case hex characters")),
  caCertificateId: z.string().check(z.refine(isCaCertificateId, "must be 64 lower-case hex characters")),
});

const thingCreatedSchema = z.object({
  eventType: z.literal("THING_EVENT"),
  operation: z.literal("CREATED"),
  thingName: z.string().check(z.refine(isDeviceId, "must be a Thing name")),
});

export type JitrParse =
  | { ok: true; kind: "certificate"; certificate: RegisteredCertificate }
  | { ok: true; kind: "thing"; thingName: DeviceId }
  | { ok: false; why: string };

/** Parses an SQS record body into the certificate to provision, or says why it cannot. */
export const parseJitrMessage = (body: string): JitrParse => {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, why: "body is not JSON" };
  }
  const thing = thingCreatedSchema.safeParse(json);
  if (thing.success) return { ok: true, kind: "thing", thingName: thing.data.thingName as DeviceId };
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
  return {
    ok: true,
    kind: "certificate",
    certificate: { certificateId, caCertificateId } as RegisteredCertificate,
  };
};
