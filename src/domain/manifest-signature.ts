import { createPublicKey, createVerify, type KeyObject } from "node:crypto";
import { ValidationError } from "./errors.js";

/**
 * Detached manifest signatures: ECDSA P-256 with SHA-256 over the manifest's bytes, by one of the
 * factory keys a deployment trusts. Fed chunk by chunk, so a large manifest is never held whole.
 */
export interface ManifestVerifier {
  update(chunk: Uint8Array): void;
  /** True when the base64 signature (DER, as openssl makes it, or raw r||s) verifies under a trusted key. */
  verify(signature: string): boolean;
}

export const parseFactoryKeys = (pems: readonly string[]): KeyObject[] =>
  pems.map((pem, index) => {
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch {
      throw new ValidationError(`factory key ${index + 1} is not a PEM public key`);
    }
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      throw new ValidationError(`factory key ${index + 1} is not an EC P-256 key`);
    }
    return key;
  });

// A raw P-256 signature is r||s, 64 bytes, and may start with any byte, 0x30 included (1 in 256);
// a DER one is a SEQUENCE (0x30) of 8 to 72 bytes, so 64 bytes starting with 0x30 can be either.
const RAW_LENGTH = 64;
const ENCODINGS = ["der", "ieee-p1363"] as const;

export const manifestVerifier = (keys: readonly KeyObject[]): ManifestVerifier => {
  // A Verify can be used once: each key gets one per encoding, fed the same bytes.
  const verifiers = keys.map((key) => ({
    key,
    der: createVerify("sha256"),
    "ieee-p1363": createVerify("sha256"),
  }));
  return {
    update(chunk) {
      for (const verifier of verifiers) {
        verifier.der.update(chunk);
        verifier["ieee-p1363"].update(chunk);
      }
    },
    verify(signature) {
      const bytes = Buffer.from(signature, "base64");
      if (bytes.length === 0 || bytes.length > 256) return false;
      const encodings = ENCODINGS.filter((encoding) =>
        encoding === "der" ? bytes[0] === 0x30 : bytes.length === RAW_LENGTH,
      );
      return verifiers.some((verifier) =>
        encodings.some((encoding) => {
          try {
            return verifier[encoding].verify({ key: verifier.key, dsaEncoding: encoding }, bytes);
          } catch {
            return false;
          }
        }),
      );
    },
  };
};
