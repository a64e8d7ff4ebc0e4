import { createPublicKey, constants as cryptoConstants, type KeyObject, verify } from "node:crypto";
import { RsaSaPssParams } from "@peculiar/asn1-rsa";
import { AsnParser } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";

/**
 * Public keys and signatures, checked with node:crypto: what a key is (for the crypto policy), the
 * hash a signature algorithm uses, and whether a signature verifies.
 */

/** What the crypto policy knows of a public key. */
export type PublicKeyFacts =
  | { readonly type: "RSA"; readonly bits: number }
  | { readonly type: "EC"; readonly curve: string }
  | { readonly type: "OTHER"; readonly algorithm: string };

// RSASSA-PSS parameters are a few dozen bytes: the parser gets no room for more.
const PARAMETER_LIMITS = { berOptions: { maxDepth: 8, maxNodes: 64, maxContentLength: 1024 } };

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

/** What a public key (its DER SubjectPublicKeyInfo) is, as the crypto policy names it. */
export const readPublicKey = (spki: ArrayBuffer): PublicKeyFacts => {
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
      ? AsnParser.parse(algorithm.parameters, RsaSaPssParams, PARAMETER_LIMITS)
      : new RsaSaPssParams();
    const hash = HASHES[params.hashAlgorithm.algorithm];
    const mgfHash = params.maskGenAlgorithm.parameters
      ? AsnParser.parse(params.maskGenAlgorithm.parameters, AlgorithmIdentifier, PARAMETER_LIMITS).algorithm
      : undefined;
    if (!hash || params.maskGenAlgorithm.algorithm !== MGF1 || HASHES[mgfHash ?? ""] !== hash)
      return undefined;
    return { kind: "pss", hash, saltLength: params.saltLength };
  } catch {
    return undefined;
  }
};

/** The hash a signature algorithm uses ("SHA-256"); undefined when it has none or is not known here. */
export const signatureHashOf = (algorithm: AlgorithmIdentifier): string | undefined =>
  signatureSchemeOf(algorithm)?.hash;

/** True when `signature` over `data` verifies with the key in `spki` under `algorithm`. */
export const verifiesWith = (
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
