import {
  createHash,
  createPublicKey,
  constants as cryptoConstants,
  type KeyObject,
  verify,
} from "node:crypto";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { RsaSaPssParams } from "@peculiar/asn1-rsa";
import { AsnParser, AsnSerializer } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  KeyUsage as KeyUsageBits,
  type Name,
} from "@peculiar/asn1-x509";
import { SUBJECT_FIELD_OIDS as OID, type SubjectField } from "./certificate-names.js";

// The functions read certificates with @peculiar/x509's own ASN.1 schemas and check signatures
// with node:crypto: @peculiar/x509 itself (made for building certificates; the CLI and the
// development PKI use it) registers every extension and PKCS#9 attribute through tsyringe when
// imported, which cost each certificate-checking function about 13 ms of its cold start.

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

/** A certificate as parsed: its ASN.1 structure and the DER it came from. */
interface ParsedCertificate {
  readonly asn: Certificate;
  readonly der: Uint8Array;
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
    const parsed = { der, asn: AsnParser.parse(der, Certificate, PARSE_LIMITS) };
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
  const spki = AsnSerializer.serialize(tbs.subjectPublicKeyInfo);
  return {
    subject: nameText(tbs.subject),
    issuer: nameText(tbs.issuer),
    serialNumber: serialNumberHex(new Uint8Array(tbs.serialNumber)),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    key: readKey(spki),
    signatureHash: signatureSchemeOf(signatureAlgorithm)?.hash,
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

// Short names of the attribute types a subject usually has; others are shown by OID.
const NAME_TYPES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.6": "C",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "E",
  "2.5.4.42": "G",
  "2.5.4.43": "I",
  "2.5.4.4": "SN",
  "2.5.4.12": "T",
};

const isControl = (code: number) => code < 0x20 || code === 0x7f;

// RFC 4514's escapes, and every control character as \XX: a name is shown to people.
const escapeNameValue = (value: string): string =>
  [
    ...value
      .replace(/([,+"\\<>;])/g, "\\$1")
      .replace(/^([ #])/, "\\$1")
      .replace(/ $/, "\\ "),
  ]
    .map((c) =>
      isControl(c.charCodeAt(0)) ? `\\${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}` : c,
    )
    .join("");

/** A distinguished name as text, "CN=dev-1, O=Acme": its RDNs in certificate order. */
const nameText = (name: Name): string =>
  name
    .map((rdn) =>
      rdn
        .map((attribute) => {
          const type = NAME_TYPES[attribute.type] ?? attribute.type;
          const value = attribute.value.anyValue
            ? `#${Buffer.from(attribute.value.anyValue).toString("hex")}`
            : escapeNameValue(attribute.value.toString());
          return `${type}=${value}`;
        })
        .join("+"),
    )
    .join(", ");

// node:crypto's names for curves and key types, as the crypto policy and refusals name them.
const CURVES: Record<string, string> = {
  prime256v1: "P-256",
  secp384r1: "P-384",
  secp521r1: "P-521",
  secp256k1: "K-256",
};
const KEY_TYPES: Record<string, string> = {
  ed25519: "Ed25519",
  ed448: "Ed448",
  x25519: "X25519",
  x448: "X448",
};

const publicKeyOf = (spki: ArrayBuffer): KeyObject =>
  createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });

const readKey = (spki: ArrayBuffer): PublicKeyFacts => {
  let key: KeyObject;
  try {
    key = publicKeyOf(spki);
  } catch {
    return { type: "OTHER", algorithm: "a key node:crypto cannot read" };
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "rsa" || key.asymmetricKeyType === "rsa-pss")
    return { type: "RSA", bits: details.modulusLength ?? 0 };
  if (key.asymmetricKeyType === "ec") {
    const curve = details.namedCurve;
    return { type: "EC", curve: curve ? (CURVES[curve] ?? curve) : "unknown" };
  }
  const type = key.asymmetricKeyType ?? "unknown";
  return { type: "OTHER", algorithm: KEY_TYPES[type] ?? type };
};

/** How a signature algorithm signs: its padding or curve family, and its hash when it has one. */
interface SignatureScheme {
  readonly kind: "pkcs1" | "ecdsa" | "pss" | "eddsa";
  /** e.g. "SHA-256"; undefined for EdDSA, which has no separate hash. */
  readonly hash: string | undefined;
  readonly saltLength?: number;
}

const HASHES: Record<string, string> = {
  "1.3.14.3.2.26": "SHA-1",
  "2.16.840.1.101.3.4.2.1": "SHA-256",
  "2.16.840.1.101.3.4.2.2": "SHA-384",
  "2.16.840.1.101.3.4.2.3": "SHA-512",
};

const SCHEMES: Record<string, SignatureScheme> = {
  "1.2.840.113549.1.1.5": { kind: "pkcs1", hash: "SHA-1" },
  "1.2.840.113549.1.1.11": { kind: "pkcs1", hash: "SHA-256" },
  "1.2.840.113549.1.1.12": { kind: "pkcs1", hash: "SHA-384" },
  "1.2.840.113549.1.1.13": { kind: "pkcs1", hash: "SHA-512" },
  "1.2.840.10045.4.1": { kind: "ecdsa", hash: "SHA-1" },
  "1.2.840.10045.4.3.2": { kind: "ecdsa", hash: "SHA-256" },
  "1.2.840.10045.4.3.3": { kind: "ecdsa", hash: "SHA-384" },
  "1.2.840.10045.4.3.4": { kind: "ecdsa", hash: "SHA-512" },
  "1.3.101.112": { kind: "eddsa", hash: undefined },
  "1.3.101.113": { kind: "eddsa", hash: undefined },
};
const RSASSA_PSS = "1.2.840.113549.1.1.10";
const MGF1 = "1.2.840.113549.1.1.8";

/**
 * The scheme of a signature algorithm; undefined for one not known here (MD5, ...), which the
 * crypto policy treats as too weak. RSASSA-PSS takes its hash from its parameters, and only
 * with MGF1 over the same hash (what node:crypto verifies).
 */
const signatureSchemeOf = (algorithm: AlgorithmIdentifier): SignatureScheme | undefined => {
  if (algorithm.algorithm !== RSASSA_PSS) return SCHEMES[algorithm.algorithm];
  try {
    const params = algorithm.parameters
      ? AsnParser.parse(algorithm.parameters, RsaSaPssParams, PARSE_LIMITS)
      : new RsaSaPssParams();
    const hash = HASHES[params.hashAlgorithm.algorithm];
    const mgfHash = params.maskGenAlgorithm.parameters
      ? AsnParser.parse(params.maskGenAlgorithm.parameters, AlgorithmIdentifier, PARSE_LIMITS).algorithm
      : undefined;
    if (!hash || params.maskGenAlgorithm.algorithm !== MGF1 || HASHES[mgfHash ?? ""] !== hash)
      return undefined;
    return { kind: "pss", hash, saltLength: params.saltLength };
  } catch {
    return undefined;
  }
};

/** True when `signature` over `data` verifies with the key in `spki` under `algorithm`. */
const verifiesWith = (
  algorithm: AlgorithmIdentifier,
  spki: ArrayBuffer,
  data: ArrayBuffer,
  signature: ArrayBuffer,
): boolean => {
  const scheme = signatureSchemeOf(algorithm);
  if (!scheme) return false;
  try {
    const key = publicKeyOf(spki);
    const expected = { pkcs1: ["rsa"], pss: ["rsa", "rsa-pss"], ecdsa: ["ec"], eddsa: ["ed25519", "ed448"] };
    if (!expected[scheme.kind].includes(key.asymmetricKeyType ?? "")) return false;
    const hash = scheme.hash ? scheme.hash.replace("-", "").toLowerCase() : null;
    const options =
      scheme.kind === "pss"
        ? { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength ?? 20 }
        : key;
    return verify(hash, Buffer.from(data), options, Buffer.from(signature));
  } catch {
    return false;
  }
};

/** One value of a subject attribute: its text, or the ASN.1 type it has when that is no string. */
export type SubjectValue = { readonly text: string } | { readonly notAString: string };

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
  return subject.flatMap((rdn) =>
    rdn.filter((attribute) => attribute.type === OID[field]).map((attribute) => readString(attribute.value)),
  );
};

type AttributeValue = Name[number][number]["value"];

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

/** A certificate signing request as parsed: its ASN.1 structure and the DER it came from. */
interface ParsedCsr {
  readonly asn: CertificationRequest;
  readonly der: Uint8Array;
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
    const parsed = { der, asn: AsnParser.parse(der, CertificationRequest, PARSE_LIMITS) };
    const info = parsed.asn.certificationRequestInfo;
    const spki = AsnSerializer.serialize(info.subjectPKInfo);
    return {
      ok: true,
      csr: {
        parsed,
        facts: {
          subject: nameText(info.subject),
          key: readKey(spki),
          signatureHash: signatureSchemeOf(parsed.asn.signatureAlgorithm)?.hash,
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
  const { certificationRequestInfo, certificationRequestInfoRaw, signatureAlgorithm, signature } =
    csr.parsed.asn;
  if (!certificationRequestInfoRaw) return false;
  const spki = AsnSerializer.serialize(certificationRequestInfo.subjectPKInfo);
  return verifiesWith(signatureAlgorithm, spki, certificationRequestInfoRaw, signature);
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
  const spki = AsnSerializer.serialize(issuer.parsed.asn.tbsCertificate.subjectPublicKeyInfo);
  return verifiesWith(signatureAlgorithm, spki, tbsCertificateRaw, signatureValue);
};
