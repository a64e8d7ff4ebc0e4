// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { createHash } from "node:crypto";
import * as x509 from "@peculiar/x509";

/** What the checks need to know about an X.509 certificate, read once. */
export interface CertificateFacts {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly key: PublicKeyFacts;
  /** e.g. "SHA-256"; undefined when the algorithm has no separate hash or is unknown. */
  readonly signatureHash: string | undefined;
  readonly isCa: boolean;
  /** OIDs of the extended key usage extension; undefined when the extension is absent. */
  readonly extendedKeyUsages: readonly string[] | undefined;
  /** Lower-case hex SHA-256 of the DER certificate. */
  readonly certificateSha256: string;
  /** Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo. */
  readonly publicKeySha256: string;
}

export type PublicKeyFacts =
  | { readonly type: "RSA"; readonly bits: number }
  | { readonly type: "EC"; readonly curve: string }
  | { readonly type: "OTHER"; readonly algorithm: string };

/** A parsed certificate: its facts, and the parsed form the signature check needs. */
export interface InspectedCertificate {
  readonly facts: CertificateFacts;
  readonly parsed: x509.X509Certificate;
}

export type Inspection = { ok: true; certificate: InspectedCertificate } | { ok: false; error: string };

// A device certificate is a few KiB at most; anything larger is refused before the parser sees it.
const MAX_PEM_LENGTH = 16 * 1024;
// Bound the ASN.1 parser against hostile nesting and element counts.
const PARSE_LIMITS = { berOptions: { maxDepth: 32, maxNodes: 4096, maxContentLength: 16 * 1024 } };

const OID = {
  CN: "2.5.4.3",
  serialNumber: "2.5.4.5",
  C: "2.5.4.6",
  ST: "2.5.4.8",
  O: "2.5.4.10",
  OU: "2.5.4.11",
  dnQualifier: "2.5.4.46",
} as const;

export type SubjectField = keyof typeof OID;
export const SUBJECT_FIELDS = Object.keys(OID) as SubjectField[];

const sha256Hex = (data: ArrayBuffer): string =>
  createHash("sha256").update(new Uint8Array(data)).digest("hex");

const PEM_BLOCK = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*$/;

/** Parses one PEM certificate defensively: any problem is a value, never an exception. */
export const inspectCertificate = (pem: string): Inspection => {
  if (pem.length > MAX_PEM_LENGTH)
    return { ok: false, error: `PEM is ${pem.length} characters (limit ${MAX_PEM_LENGTH})` };
  if (!PEM_BLOCK.test(pem.trim())) return { ok: false, error: "not exactly one PEM CERTIFICATE block" };
  try {
    const parsed = new x509.X509Certificate(pem.trim(), PARSE_LIMITS);
    return { ok: true, certificate: { parsed, facts: readFacts(parsed) } };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
};

const readFacts = (cert: x509.X509Certificate): CertificateFacts => {
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    key: readKey(cert.publicKey),
    signatureHash: readSignatureHash(cert),
    isCa: basic?.ca === true,
    extendedKeyUsages: eku ? eku.usages.map(String) : undefined,
    certificateSha256: sha256Hex(cert.rawData),
    publicKeySha256: sha256Hex(cert.publicKey.rawData),
  };
};

const readKey = (key: x509.PublicKey): PublicKeyFacts => {
  const algorithm = key.algorithm as { name: string; modulusLength?: number; namedCurve?: string };
  if (algorithm.name.startsWith("RSA")) return { type: "RSA", bits: algorithm.modulusLength ?? 0 };
  if (algorithm.name === "ECDSA" || algorithm.name === "ECDH") {
    return { type: "EC", curve: algorithm.namedCurve ?? "unknown" };
  }
  return { type: "OTHER", algorithm: algorithm.name };
};

const readSignatureHash = (cert: x509.X509Certificate): string | undefined => {
  try {
    const hash = (cert.signatureAlgorithm as { hash?: { name?: string } }).hash;
    return hash?.name;
  } catch {
    return undefined; // an algorithm the library does not know (MD5, ...): treated as too weak.
  }
};

/** Values of one subject attribute, in certificate order (a hostile subject may repeat one). */
export const subjectValues = (certificate: InspectedCertificate, field: SubjectField): string[] =>
  certificate.parsed.subjectName.getField(OID[field]);

/**
 * True when `issuer`'s key produced the signature of `certificate` and the names chain.
 * Cryptographic, not a comparison of issuer names: anyone can write a CA's name into a certificate.
 */
export const isIssuedBy = async (
  certificate: InspectedCertificate,
  issuer: InspectedCertificate,
): Promise<boolean> => {
  if (certificate.parsed.issuer !== issuer.parsed.subject) return false;
  try {
    return await certificate.parsed.verify({ publicKey: issuer.parsed.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
};
