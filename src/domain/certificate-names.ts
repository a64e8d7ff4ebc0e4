import { createHash } from "node:crypto";
import type { CertificateId } from "./ids.js";

/**
 * What names a certificate and its device without parsing it: IoT Core's id of a certificate, and
 * the subject fields a device id may be read from. Kept apart from certificate.ts, so that code
 * which only names certificates (the IoT registry adapter, the configuration) does not load the
 * X.509 parser: a function that verifies no certificate starts without it.
 */
export const SUBJECT_FIELD_OIDS = {
  CN: "2.5.4.3",
  serialNumber: "2.5.4.5",
  C: "2.5.4.6",
  ST: "2.5.4.8",
  O: "2.5.4.10",
  OU: "2.5.4.11",
  dnQualifier: "2.5.4.46",
} as const;

export type SubjectField = keyof typeof SUBJECT_FIELD_OIDS;
export const SUBJECT_FIELDS = Object.keys(SUBJECT_FIELD_OIDS) as SubjectField[];

/** IoT Core's id of a certificate: the SHA-256 of its DER encoding, in lower-case hex. */
export const certificateIdOf = (pem: string): CertificateId =>
  createHash("sha256")
    .update(Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64"))
    .digest("hex") as CertificateId;
