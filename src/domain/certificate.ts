import { createHash } from "node:crypto";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { AsnParser, AsnSerializer } from "@peculiar/asn1-schema";
import {
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  KeyUsage as KeyUsageBits,
} from "@peculiar/asn1-x509";
import { SUBJECT_FIELD_OIDS as OID, type SubjectField } from "./certificate-names.js";
import { attributeValues, nameText, type SubjectValue } from "./distinguished-name.js";
import { type PublicKeyFacts, readPublicKey, signatureHashOf, verifiesWith } from "./signatures.js";

// The functions read certificates with @peculiar/x509's own ASN.1 schemas and check signatures
// with node:crypto: @peculiar/x509 itself (made for building certificates; the CLI and the
// development PKI use it) registers every extension and PKCS#9 attribute through tsyringe when
// imported, which cost each certificate-checking function about 13 ms of its cold start.

export { certificateIdOf, SUBJECT_FIELDS, type SubjectField } from "./certificate-names.js";
export type { SubjectValue } from "./distinguished-name.js";
export type { PublicKeyFacts } from "./signatures.js";

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

/** A certificate as parsed: its ASN.1 structure and the DER it came from. */
interface ParsedCertificate {
  readonly asn: Certificate;
  readonly der: Uint8Array;
  /** Its DER SubjectPublicKeyInfo: what its fingerprint and every signature it checks use. */
  readonly spki: ArrayBuffer;
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

// The block's base64 (its characters already checked by the block's pattern).
const derOf = (pem: string): Uint8Array =>
  new Uint8Array(Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64"));

/** Parses one PEM certificate defensively: any problem is a value, never an exception. */
export const inspectCertificate = (pem: string): Inspection => {
  if (pem.length > MAX_PEM_LENGTH)
    return { ok: false, error: `PEM is ${pem.length} characters (limit ${MAX_PEM_LENGTH})` };
  if (!PEM_BLOCK.test(pem.trim())) return { ok: false, error: "not exactly one PEM CERTIFICATE block" };
  try {
    const der = derOf(pem.trim());
    const asn = AsnParser.parse(der, Certificate, PARSE_LIMITS);
    const parsed = { der, asn, spki: AsnSerializer.serialize(asn.tbsCertificate.subjectPublicKeyInfo) };
    return { ok: true, certificate: { parsed, facts: readFacts(parsed), profile: readProfile(parsed) } };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
};

/** The value of the first extension of that type, parsed; undefined when the certificate has none. */
const extensionOf = <T>(cert: ParsedCertificate, oid: string, type: new () => T): T | undefined => {
  const extension = cert.asn.tbsCertificate.extensions?.find((e) => e.extnID === oid);
  return extension ? AsnParser.parse(extension.extnValue, type, PARSE_LIMITS) : undefined;
};

const readFacts = (cert: ParsedCertificate): CertificateFacts => {
  const { tbsCertificate: tbs, signatureAlgorithm } = cert.asn;
  const eku = extensionOf(cert, id_ce_extKeyUsage, ExtendedKeyUsage);
  const { spki } = cert;
  return {
    subject: nameText(tbs.subject),
    issuer: nameText(tbs.issuer),
    serialNumber: serialNumberHex(new Uint8Array(tbs.serialNumber)),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    key: readPublicKey(spki),
    signatureHash: signatureHashOf(signatureAlgorithm),
    isCa: extensionOf(cert, id_ce_basicConstraints, BasicConstraints)?.cA === true,
    extendedKeyUsages: eku ? eku.map(String) : undefined,
    certificateSha256: sha256Hex(cert.der),
    publicKeySha256: sha256Hex(spki),
  };
};

const readProfile = (cert: ParsedCertificate): CertificateProfile => {
  const keyUsage = extensionOf(cert, id_ce_keyUsage, KeyUsageBits)?.toNumber();
  const { tbsCertificate, signatureAlgorithm } = cert.asn;
  return {
    keyUsages:
      keyUsage === undefined ? undefined : KEY_USAGES.filter((_, bit) => (keyUsage & (1 << bit)) !== 0),
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

// Lower-case hex, without the sign octet DER adds before a high bit (as IoT Core and OpenSSL show it).
const serialNumberHex = (bytes: Uint8Array): string =>
  Buffer.from(
    bytes.length > 1 && bytes[0] === 0 && (bytes[1] ?? 0) > 0x7f ? bytes.subarray(1) : bytes,
  ).toString("hex");

/** Values of one subject attribute, in certificate order (a hostile subject may repeat one). */
export const subjectValues = (
  certificate: InspectedCertificate | InspectedCsr,
  field: SubjectField,
): SubjectValue[] => {
  const structure = certificate.parsed.asn;
  const subject =
    "tbsCertificate" in structure
      ? structure.tbsCertificate.subject
      : structure.certificationRequestInfo.subject;
  return attributeValues(subject, OID[field]);
};

/** A certificate signing request as parsed: its ASN.1 structure and the DER it came from. */
interface ParsedCsr {
  readonly asn: CertificationRequest;
  readonly der: Uint8Array;
  /** Its DER SubjectPublicKeyInfo, as for certificates. */
  readonly spki: ArrayBuffer;
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
    const der = derOf(pem.trim());
    const asn = AsnParser.parse(der, CertificationRequest, PARSE_LIMITS);
    const parsed = { der, asn, spki: AsnSerializer.serialize(asn.certificationRequestInfo.subjectPKInfo) };
    const info = parsed.asn.certificationRequestInfo;
    const { spki } = parsed;
    return {
      ok: true,
      csr: {
        parsed,
        facts: {
          subject: nameText(info.subject),
          key: readPublicKey(spki),
          signatureHash: signatureHashOf(parsed.asn.signatureAlgorithm),
          publicKeySha256: sha256Hex(spki),
          requestSha256: sha256Hex(der),
        },
      },
    };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
};

/** True when the request is signed by the key it names: its sender holds that private key. */
export const provesPossession = async (csr: InspectedCsr): Promise<boolean> => {
  const { certificationRequestInfoRaw, signatureAlgorithm, signature } = csr.parsed.asn;
  if (!certificationRequestInfoRaw) return false;
  return verifiesWith(signatureAlgorithm, csr.parsed.spki, certificationRequestInfoRaw, signature);
};

/**
 * True when `issuer`'s key produced the signature of `certificate` and the names chain.
 * Cryptographic, not a comparison of issuer names: anyone can write a CA's name into a certificate.
 */
export const isIssuedBy = async (
  certificate: InspectedCertificate,
  issuer: InspectedCertificate,
): Promise<boolean> => {
  if (certificate.facts.issuer !== issuer.facts.subject) return false;
  const { tbsCertificateRaw, signatureAlgorithm, signatureValue } = certificate.parsed.asn;
  if (!tbsCertificateRaw) return false;
  return verifiesWith(signatureAlgorithm, issuer.parsed.spki, tbsCertificateRaw, signatureValue);
};
