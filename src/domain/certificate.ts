// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { createHash } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { SUBJECT_FIELD_OIDS as OID, type SubjectField } from "./certificate-names.js";

export { certificateIdOf, SUBJECT_FIELDS, type SubjectField } from "./certificate-names.js";

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

/** How the certificate is built: what RFC 5280 says a relying party must check beyond the facts. */
export interface CertificateProfile {
  /** Names of the key usage bits (e.g. "digitalSignature"); undefined when the extension is absent. */
  readonly keyUsages: readonly KeyUsage[] | undefined;
  /** OIDs of the extensions, in certificate order, and which are critical. */
  readonly extensions: readonly { readonly oid: string; readonly critical: boolean }[];
  /** The serial number's sign: RFC 5280 wants a positive integer. */
  readonly serialNumberSign: "positive" | "zero" | "negative";
  /** The algorithm the CA signed inside the certificate (tbsCertificate.signature), as an OID. */
  readonly signedAlgorithm: string;
  /** The algorithm the signature is said to use (signatureAlgorithm), as an OID. */
  readonly signatureAlgorithm: string;
  /** Whether the two are the same algorithm identifier, parameters included (RFC 5280 4.1.1.2). */
  readonly signatureAlgorithmsAgree: boolean;
}

export type PublicKeyFacts =
  | { readonly type: "RSA"; readonly bits: number }
  | { readonly type: "EC"; readonly curve: string }
  | { readonly type: "OTHER"; readonly algorithm: string };

export const KEY_USAGES = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

/** The library's certificate, with its ASN.1 form in reach: the checks read what its getters hide. */
class ParsedCertificate extends x509.X509Certificate {
  get structure() {
    return this.asn;
  }
}

/** A parsed certificate: its facts, and the parsed form the signature check needs. */
export interface InspectedCertificate {
  readonly facts: CertificateFacts;
  readonly profile: CertificateProfile;
  readonly parsed: ParsedCertificate;
}

export type Inspection = { ok: true; certificate: InspectedCertificate } | { ok: false; error: string };

// A device certificate is a few KiB at most; anything larger is refused before the parser sees it.
const MAX_PEM_LENGTH = 16 * 1024;
// Bound the ASN.1 parser against hostile nesting and element counts.
const PARSE_LIMITS = { berOptions: { maxDepth: 32, maxNodes: 4096, maxContentLength: 16 * 1024 } };

const sha256Hex = (data: ArrayBuffer | Uint8Array): string =>
  createHash("sha256").update(new Uint8Array(data)).digest("hex");

const PEM_BLOCK = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*$/;

/** Parses one PEM certificate defensively: any problem is a value, never an exception. */
export const inspectCertificate = (pem: string): Inspection => {
  if (pem.length > MAX_PEM_LENGTH)
    return { ok: false, error: `PEM is ${pem.length} characters (limit ${MAX_PEM_LENGTH})` };
  if (!PEM_BLOCK.test(pem.trim())) return { ok: false, error: "not exactly one PEM CERTIFICATE block" };
  try {
    const parsed = new ParsedCertificate(pem.trim(), PARSE_LIMITS);
    return { ok: true, certificate: { parsed, facts: readFacts(parsed), profile: readProfile(parsed) } };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
};

const readFacts = (cert: ParsedCertificate): CertificateFacts => {
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

const readProfile = (cert: ParsedCertificate): CertificateProfile => {
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  const { tbsCertificate, signatureAlgorithm } = cert.structure;
  return {
    keyUsages: keyUsage ? KEY_USAGES.filter((_, bit) => (keyUsage.usages & (1 << bit)) !== 0) : undefined,
    extensions: (tbsCertificate.extensions ?? []).map((e) => ({ oid: e.extnID, critical: e.critical })),
    serialNumberSign: integerSign(new Uint8Array(tbsCertificate.serialNumber)),
    signedAlgorithm: tbsCertificate.signature.algorithm,
    signatureAlgorithm: signatureAlgorithm.algorithm,
    signatureAlgorithmsAgree: tbsCertificate.signature.isEqual(signatureAlgorithm),
  };
};

// DER integers are two's complement, big-endian.
const integerSign = (bytes: Uint8Array): CertificateProfile["serialNumberSign"] => {
  if (((bytes[0] ?? 0) & 0x80) !== 0) return "negative";
  return bytes.some((byte) => byte !== 0) ? "positive" : "zero";
};

const readKey = (key: x509.PublicKey): PublicKeyFacts => {
  const algorithm = key.algorithm as { name: string; modulusLength?: number; namedCurve?: string };
  if (algorithm.name.startsWith("RSA")) return { type: "RSA", bits: algorithm.modulusLength ?? 0 };
  if (algorithm.name === "ECDSA" || algorithm.name === "ECDH") {
    return { type: "EC", curve: algorithm.namedCurve ?? "unknown" };
  }
  return { type: "OTHER", algorithm: algorithm.name };
};

const readSignatureHash = (
  cert: x509.X509Certificate | x509.Pkcs10CertificateRequest,
): string | undefined => {
  try {
    const hash = (cert.signatureAlgorithm as { hash?: { name?: string } }).hash;
    return hash?.name;
  } catch {
    return undefined; // an algorithm the library does not know (MD5, ...): treated as too weak.
  }
};

/** One value of a subject attribute: its text, or the ASN.1 type it has when that is no string. */
export type SubjectValue = { readonly text: string } | { readonly notAString: string };

/** Values of one subject attribute, in certificate order (a hostile subject may repeat one). */
export const subjectValues = (
  certificate: InspectedCertificate | InspectedCsr,
  field: SubjectField,
): SubjectValue[] => {
  const structure = certificate.parsed.structure;
  const subject =
    "tbsCertificate" in structure
      ? structure.tbsCertificate.subject
      : structure.certificationRequestInfo.subject;
  return subject.flatMap((rdn) =>
    rdn.filter((attribute) => attribute.type === OID[field]).map((attribute) => readString(attribute.value)),
  );
};

type AttributeValue = ParsedCertificate["structure"]["tbsCertificate"]["subject"][number][number]["value"];

// The parser decodes the DirectoryString choices and IA5String; any other type arrives as raw DER.
const readString = (value: AttributeValue): SubjectValue => {
  if (!value.anyValue) return { text: value.toString() };
  const element = new Uint8Array(value.anyValue);
  const tag = element[0] ?? 0;
  const content = primitiveContent(element);
  if ((tag === NUMERIC_STRING || tag === VISIBLE_STRING) && content) {
    return { text: new TextDecoder("latin1").decode(content) };
  }
  return { notAString: ASN1_TYPE_NAMES[tag] ?? `type with tag 0x${tag.toString(16).padStart(2, "0")}` };
};

const NUMERIC_STRING = 0x12;
const VISIBLE_STRING = 0x1a;
const ASN1_TYPE_NAMES: Record<number, string> = {
  1: "BOOLEAN",
  2: "INTEGER",
  3: "BIT STRING",
  4: "OCTET STRING",
  5: "NULL",
  6: "OBJECT IDENTIFIER",
  23: "UTCTime",
  24: "GeneralizedTime",
  48: "SEQUENCE",
  49: "SET",
};

/** The content of a primitive DER element with a short or long length; undefined if it is not one. */
const primitiveContent = (element: Uint8Array): Uint8Array | undefined => {
  const first = element[1];
  if (first === undefined) return undefined;
  let length = first;
  let start = 2;
  if (first & 0x80) {
    const octets = first & 0x7f;
    if (octets === 0 || octets > 2) return undefined;
    length = 0;
    for (let i = 0; i < octets; i += 1) length = (length << 8) | (element[2 + i] ?? 0);
    start = 2 + octets;
  }
  return start + length === element.length ? element.subarray(start) : undefined;
};

/** The library's certificate request, with its ASN.1 form in reach, as for certificates. */
class ParsedCsr extends x509.Pkcs10CertificateRequest {
  get structure() {
    return this.asn;
  }
}

/** What the crypto policy needs to know about a certificate signing request (PKCS#10), read once. */
export interface CsrFacts {
  readonly subject: string;
  readonly key: PublicKeyFacts;
  /** The hash of the request's own signature; undefined when unknown. */
  readonly signatureHash: string | undefined;
  /** Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo, as for certificates. */
  readonly publicKeySha256: string;
  /** Lower-case hex SHA-256 of the DER request: the same request sent again has the same. */
  readonly requestSha256: string;
}

export interface InspectedCsr {
  readonly facts: CsrFacts;
  readonly parsed: ParsedCsr;
}

export type CsrInspection = { ok: true; csr: InspectedCsr } | { ok: false; error: string };

const CSR_BLOCK =
  /^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----\s*$/;

/** Parses one PEM certificate signing request, with the limits certificates get: any problem is a value. */
export const inspectCsr = (pem: string): CsrInspection => {
  if (pem.length > MAX_PEM_LENGTH)
    return { ok: false, error: `PEM is ${pem.length} characters (limit ${MAX_PEM_LENGTH})` };
  if (!CSR_BLOCK.test(pem.trim()))
    return { ok: false, error: "not exactly one PEM CERTIFICATE REQUEST block" };
  try {
    const parsed = new ParsedCsr(pem.trim(), PARSE_LIMITS);
    return {
      ok: true,
      csr: {
        parsed,
        facts: {
          subject: parsed.subject,
          key: readKey(parsed.publicKey),
          signatureHash: readSignatureHash(parsed),
          publicKeySha256: sha256Hex(parsed.publicKey.rawData),
          requestSha256: sha256Hex(parsed.rawData),
        },
      },
    };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
};

/** True when the request is signed by the key it names: its sender holds that private key. */
export const provesPossession = async (csr: InspectedCsr): Promise<boolean> => {
  try {
    return await csr.parsed.verify();
  } catch {
    return false;
  }
};

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
