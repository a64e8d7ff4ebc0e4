import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/**
 * Makes the certificates tests and the local stack need: a CA, and device certificates that are
 * good or bad in one chosen way. Nothing here is fixed data: every run makes fresh keys.
 */
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;
type RsaHashedKeyAlgorithm = webcrypto.RsaHashedKeyAlgorithm;
const crypto = webcrypto;
x509.cryptoProvider.set(crypto as never);

export type KeySpec =
  | { type: "EC"; curve: "P-256" | "P-384" | "P-521" }
  | { type: "RSA"; bits: number }
  | { type: "Ed25519" };
export type HashName = "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512";

export interface Issuer {
  readonly certificate: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
  readonly pem: string;
  readonly signingAlgorithm: Algorithm | EcdsaParams;
}

export interface DeviceCertificate {
  readonly certificate: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
  readonly pem: string;
}

const DAY = 86_400_000;

export const generateKeys = async (spec: KeySpec, hash: HashName = "SHA-256"): Promise<CryptoKeyPair> => {
  if (spec.type === "EC") {
    return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: spec.curve }, true, ["sign", "verify"]);
  }
  if (spec.type === "RSA") {
    return crypto.subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: spec.bits,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash,
      },
      true,
      ["sign", "verify"],
    ) as Promise<CryptoKeyPair>;
  }
  return crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
};

const signingAlgorithmFor = (keys: CryptoKeyPair, hash: HashName): Algorithm | EcdsaParams =>
  keys.privateKey.algorithm.name === "ECDSA"
    ? ({ name: "ECDSA", hash } as EcdsaParams)
    : ({ name: keys.privateKey.algorithm.name, hash } as Algorithm);

const randomSerial = (): string =>
  Buffer.from(crypto.getRandomValues(new Uint8Array(12)))
    .toString("hex")
    .replace(/^0*/, "1");

export interface CaOptions {
  readonly name?: string;
  readonly key?: KeySpec;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Basic constraints; default CA:TRUE. A "CA" that is not one, for tests. */
  readonly basicConstraints?: { readonly ca: boolean } | "absent";
  /** Key usage flags; default keyCertSign and cRLSign. */
  readonly keyUsages?: number | "absent";
}

export const createCa = async (options: CaOptions = {}): Promise<Issuer> => {
  const keys = await generateKeys(options.key ?? { type: "EC", curve: "P-256" });
  const signingAlgorithm = signingAlgorithmFor(keys, "SHA-256");
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${options.name ?? "Fleetgate Test CA"}, O=Fleetgate`,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 365 * DAY),
    keys,
    signingAlgorithm,
    extensions: caExtensions(options),
  });
  return { certificate, keys, pem: certificate.toString("pem"), signingAlgorithm };
};

const caExtensions = (options: CaOptions): x509.Extension[] => {
  const extensions: x509.Extension[] = [];
  const basic = options.basicConstraints ?? { ca: true };
  if (basic !== "absent") extensions.push(new x509.BasicConstraintsExtension(basic.ca, undefined, true));
  const usages = options.keyUsages ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
  if (usages !== "absent") extensions.push(new x509.KeyUsagesExtension(usages, true));
  return extensions;
};

export interface DeviceOptions {
  /** The full subject; defaults to `CN=<deviceId>`. */
  readonly subject?: string;
  readonly deviceId?: string;
  readonly key?: KeySpec;
  readonly hash?: HashName;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly isCa?: boolean;
  /** OIDs for an extended key usage extension; omitted = no extension. */
  readonly extendedKeyUsages?: readonly string[];
  /** Reuse a key pair (a second certificate for the same device key). */
  readonly keys?: CryptoKeyPair;
  /** Key usage flags (x509.KeyUsageFlags); omitted = no extension. */
  readonly keyUsages?: number;
  /** More extensions, as given (e.g. a critical one nothing knows). */
  readonly extensions?: readonly x509.Extension[];
}

export const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
export const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";

export const issueDeviceCertificate = async (
  issuer: Issuer,
  options: DeviceOptions = {},
): Promise<DeviceCertificate> => {
  const keys =
    options.keys ?? (await generateKeys(options.key ?? { type: "EC", curve: "P-256" }, options.hash));
  const extensions: x509.Extension[] = [];
  if (options.isCa) extensions.push(new x509.BasicConstraintsExtension(true, undefined, true));
  if (options.extendedKeyUsages)
    extensions.push(new x509.ExtendedKeyUsageExtension([...options.extendedKeyUsages]));
  if (options.keyUsages !== undefined) extensions.push(new x509.KeyUsagesExtension(options.keyUsages, true));
  if (options.extensions) extensions.push(...options.extensions);
  const hash = options.hash ?? "SHA-256";
  const signingKey = await signingKeyFor(issuer, hash);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: options.subject ?? `CN=${options.deviceId ?? "device-0001"}`,
    issuer: issuer.certificate.subject,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 365 * DAY),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: { ...issuer.signingAlgorithm, hash } as EcdsaParams,
    extensions,
  });
  return { certificate, keys, pem: certificate.toString("pem") };
};

// WebCrypto binds the hash to an RSA key: re-import the issuer's key to sign with another hash.
const signingKeyFor = async (issuer: Issuer, hash: HashName): Promise<CryptoKey> => {
  const key = issuer.keys.privateKey;
  const keyHash = (key.algorithm as RsaHashedKeyAlgorithm).hash?.name;
  if (key.algorithm.name === "ECDSA" || key.algorithm.name === "Ed25519" || keyHash === hash) return key;
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", key);
  return crypto.subtle.importKey("pkcs8", pkcs8, { name: key.algorithm.name, hash }, false, ["sign"]);
};

export interface CertificateRequestOptions {
  /** The subject; defaults to `CN=<deviceId>`. */
  readonly subject?: string;
  readonly deviceId?: string;
  readonly key?: KeySpec;
  readonly hash?: HashName;
  /** Reuse a key pair (a request for the key a device already has). */
  readonly keys?: CryptoKeyPair;
}

export interface CertificateRequest {
  readonly pem: string;
  readonly keys: CryptoKeyPair;
}

/** A PKCS#10 certificate signing request, as a device makes one for a new key, signed by that key. */
export const createCertificateRequest = async (
  options: CertificateRequestOptions = {},
): Promise<CertificateRequest> => {
  const hash = options.hash ?? "SHA-256";
  const keys = options.keys ?? (await generateKeys(options.key ?? { type: "EC", curve: "P-256" }, hash));
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.subject ?? `CN=${options.deviceId ?? "device-0001"}`,
    keys,
    signingAlgorithm: signingAlgorithmFor(keys, hash),
  });
  return { pem: request.toString("pem"), keys };
};

/**
 * A certificate for a request's key and subject, signed by `issuer`: what a CA does with a CSR
 * (IoT Core's CreateCertificateFromCsr with Amazon's CA, or a private CA).
 */
export const issueFromCertificateRequest = async (issuer: Issuer, requestPem: string): Promise<string> => {
  const request = new x509.Pkcs10CertificateRequest(requestPem);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: request.subject,
    issuer: issuer.certificate.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 365 * DAY),
    publicKey: request,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: issuer.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ],
  });
  return certificate.toString("pem");
};

/** PEM of a private key, so the development CA can be kept between runs. */
export const exportPrivateKeyPem = async (key: CryptoKey): Promise<string> => {
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", key)).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)?.join("\n")}\n-----END PRIVATE KEY-----\n`;
};

/** Rebuilds an EC P-256 issuer from its certificate and private key PEMs. */
export const loadIssuer = async (certificatePem: string, privateKeyPem: string): Promise<Issuer> => {
  const certificate = new x509.X509Certificate(certificatePem);
  const der = Buffer.from(privateKeyPem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
  const algorithm = { name: "ECDSA", namedCurve: "P-256" };
  const privateKey = await crypto.subtle.importKey("pkcs8", der, algorithm, true, ["sign"]);
  const publicKey = await certificate.publicKey.export(algorithm, ["verify"], crypto as never);
  return {
    certificate,
    keys: { privateKey, publicKey: publicKey as unknown as CryptoKey },
    pem: certificate.toString("pem"),
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
  };
};
