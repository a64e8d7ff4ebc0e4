import "reflect-metadata";
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { VerificationSigner } from "#app/onboard-ca.js";
import { ValidationError } from "#domain/errors.js";

x509.cryptoProvider.set(webcrypto as never);

// The hash IoT Core and OpenSSL pair with each curve.
const CURVES: Readonly<Record<string, { namedCurve: string; hash: string }>> = {
  prime256v1: { namedCurve: "P-256", hash: "SHA-256" },
  secp384r1: { namedCurve: "P-384", hash: "SHA-384" },
  secp521r1: { namedCurve: "P-521", hash: "SHA-512" },
};

/**
 * Signs DEFAULT mode's verification certificate with the CA's key, here: the key is read from its
 * PEM (PKCS#8, PKCS#1 or SEC1; encrypted when a passphrase is given), checked against the CA
 * certificate, and used once in this process. Refused with a clear error before any AWS call when
 * the key is not the CA's, is encrypted without a passphrase, or is of a kind IoT Core does not take.
 */
export const caKeySigner = (caPem: string, keyPem: string, passphrase?: string): VerificationSigner => {
  const key = readPrivateKey(keyPem, passphrase);
  const caKey = createPublicKey(caPem);
  const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" }) as Buffer;
  if (!spki(createPublicKey(key)).equals(spki(caKey)))
    throw new ValidationError("the key is not the CA certificate's key");
  const algorithm = signingAlgorithm(key);
  return async (registrationCode) => {
    const ca = new x509.X509Certificate(caPem);
    const signingKey = await webcrypto.subtle.importKey(
      "pkcs8",
      key.export({ type: "pkcs8", format: "der" }),
      algorithm.import,
      false,
      ["sign"],
    );
    const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
      "sign",
      "verify",
    ]);
    const now = Date.now();
    const verification = await x509.X509CertificateGenerator.create({
      serialNumber: `01${randomBytes(15).toString("hex")}`,
      subject: `CN=${registrationCode}`,
      issuer: ca.subject,
      // Used once, at registration: a day either side absorbs clock skew.
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + 86_400_000),
      publicKey: keys.publicKey,
      signingKey,
      signingAlgorithm: algorithm.sign,
    });
    return verification.toString("pem");
  };
};

// PKCS#8 says ENCRYPTED PRIVATE KEY; OpenSSL's older format says so in a Proc-Type header.
const ENCRYPTED = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/;

const readPrivateKey = (pem: string, passphrase: string | undefined): KeyObject => {
  const encrypted = ENCRYPTED.test(pem);
  if (encrypted && !passphrase)
    throw new ValidationError("the CA key is encrypted: give its passphrase in FLEETGATE_CA_KEY_PASSPHRASE");
  try {
    return createPrivateKey({ key: pem, format: "pem", ...(encrypted ? { passphrase } : {}) });
  } catch (error) {
    if (encrypted) throw new ValidationError("the CA key did not decrypt with the passphrase given");
    throw new ValidationError(
      `not a private key in PEM: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
};

const signingAlgorithm = (key: KeyObject) => {
  if (key.asymmetricKeyType === "rsa") {
    const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    return { import: algorithm, sign: algorithm };
  }
  const curve =
    key.asymmetricKeyType === "ec" ? CURVES[key.asymmetricKeyDetails?.namedCurve ?? ""] : undefined;
  if (!curve)
    throw new ValidationError(
      `a CA key of type ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ""} cannot sign for IoT Core: RSA or EC P-256, P-384, P-521`,
    );
  return {
    import: { name: "ECDSA", namedCurve: curve.namedCurve },
    sign: { name: "ECDSA", hash: curve.hash },
  };
};
