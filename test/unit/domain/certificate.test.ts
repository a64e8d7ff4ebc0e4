import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import {
  type InspectedCertificate,
  inspectCertificate,
  inspectCsr,
  isIssuedBy,
  provesPossession,
} from "#domain/certificate.js";
import { createCa, createCertificateRequest, issueDeviceCertificate } from "#local/dev-pki.js";
import { reissue } from "#test/support/reissue.js";

const inspect = (pem: string): InspectedCertificate => {
  const result = inspectCertificate(pem);
  if (!result.ok) throw new Error(result.error);
  return result.certificate;
};

/** The PEM with one bit of its signature (at the end of the DER) flipped. */
const withSignatureFlipped = (pem: string, label: string): string => {
  const bytes = x509.PemConverter.decodeFirst(pem);
  const copy = new Uint8Array(bytes.slice(0));
  copy[copy.length - 3] = (copy[copy.length - 3] ?? 0) ^ 0x01;
  return x509.PemConverter.encode(copy.buffer, label);
};

const ca = await createCa();

describe("reading a certificate", () => {
  it("checks an RSASSA-PSS signature with the hash and salt its parameters name", async () => {
    const keys = (await webcrypto.subtle.generateKey(
      { name: "RSA-PSS", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      true,
      ["sign", "verify"],
    )) as webcrypto.CryptoKeyPair;
    const signingAlgorithm = { name: "RSA-PSS", saltLength: 32 };
    const pssCa = await x509.X509CertificateGenerator.createSelfSigned({
      name: "CN=PSS CA",
      keys,
      signingAlgorithm,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const device = await x509.X509CertificateGenerator.create({
      subject: "CN=pss-device",
      issuer: pssCa.subject,
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
    });
    const issuer = inspect(pssCa.toString("pem"));
    const certificate = inspect(device.toString("pem"));

    expect(certificate.facts.signatureHash).toBe("SHA-256");
    expect(await isIssuedBy(certificate, issuer)).toBe(true);
    expect(
      await isIssuedBy(inspect(withSignatureFlipped(device.toString("pem"), "CERTIFICATE")), issuer),
    ).toBe(false);
    expect(await isIssuedBy(certificate, inspect(ca.pem))).toBe(false);
  });

  it("shows names as RFC 4514 text, escaping separators and control characters", async () => {
    const device = await issueDeviceCertificate(ca);
    const utf8 = (type: string, text: string) =>
      new RelativeDistinguishedName([
        new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: text }) }),
      ]);
    const pem = await reissue(device.pem, ca, (certificate) => {
      certificate.tbsCertificate.subject = new Name([
        utf8("2.5.4.3", "dev\u0007one\nx"),
        utf8("2.5.4.10", "Acme, Inc"),
      ]);
    });
    expect(inspect(pem).facts.subject).toBe("CN=dev\\07one\\0Ax, O=Acme\\, Inc");
  });

  it("shows the serial number as lower-case hex without the sign octet DER adds", async () => {
    const device = await issueDeviceCertificate(ca);
    const pem = await reissue(device.pem, ca, (certificate) => {
      certificate.tbsCertificate.serialNumber = new Uint8Array([0x00, 0x8f, 0x01]).buffer;
    });
    expect(inspect(pem).facts.serialNumber).toBe("8f01");
  });

  it("names an Ed25519 key as the crypto policy does", async () => {
    const device = await issueDeviceCertificate(ca, { key: { type: "Ed25519" } });
    expect(inspect(device.pem).facts.key).toEqual({ type: "OTHER", algorithm: "Ed25519" });
  });
});

describe("reading a certificate signing request", () => {
  it("proves possession only with the request's own valid signature", async () => {
    const request = await createCertificateRequest({ deviceId: "csr-device" });
    const read = (pem: string) => {
      const result = inspectCsr(pem);
      if (!result.ok) throw new Error(result.error);
      return result.csr;
    };
    expect(await provesPossession(read(request.pem))).toBe(true);

    const parsed = AsnConvert.parse(x509.PemConverter.decodeFirst(request.pem), CertificationRequest);
    const forged = new Uint8Array(parsed.signature.slice(0));
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0x01;
    parsed.signature = forged.buffer;
    const tampered = x509.PemConverter.encode(AsnConvert.serialize(parsed), "CERTIFICATE REQUEST");
    expect(await provesPossession(read(tampered))).toBe(false);
  });
});
