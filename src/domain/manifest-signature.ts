import { createPublicKey, createVerify, type KeyObject, type Verify } from "node:crypto";
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

export const manifestVerifier = (keys: readonly KeyObject[]): ManifestVerifier => {
  const verifiers: Verify[] = keys.map(() => createVerify("sha256"));
  return {
    update(chunk) {
      for (const verifier of verifiers) verifier.update(chunk);
    },
    verify(signature) {
      const bytes = Buffer.from(signature, "base64");
      if (bytes.length === 0 || bytes.length > 256) return false;
      return keys.some((key, index) => {
        const verifier = verifiers[index];
        if (!verifier) return false;
        // A Verify can be used once; a signature is either DER or raw, so try the likelier first.
        const encoding = bytes[0] === 0x30 ? "der" : "ieee-p1363";
        try {
          return verifier.verify({ key, dsaEncoding: encoding }, bytes);
        } catch {
          return false;
        }
      });
    },
  };
};
