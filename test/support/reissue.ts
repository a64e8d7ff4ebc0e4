import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AttributeTypeAndValue,
  AttributeValue,
  Certificate,
  Name,
  RelativeDistinguishedName,
} from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import type { Issuer } from "#local/dev-pki.js";

/**
 * Certificates no generator makes: a good certificate's parsed form is changed, then signed again
 * with the issuer's key, so the result is hostile in exactly one way and still verifies.
 */
export const reissue = async (
  pem: string,
  issuer: Issuer,
  change: (certificate: Certificate) => void,
): Promise<string> => {
  const certificate = AsnConvert.parse(x509.PemConverter.decodeFirst(pem), Certificate);
  change(certificate);
  const tbs = AsnConvert.serialize(certificate.tbsCertificate);
  const algorithm = issuer.signingAlgorithm;
  const signature = await webcrypto.subtle.sign(algorithm, issuer.keys.privateKey, tbs);
  const encoded = new x509.AsnEcSignatureFormatter().toAsnSignature(algorithm, signature);
  const signed = new Certificate({
    tbsCertificate: certificate.tbsCertificate,
    signatureAlgorithm: certificate.signatureAlgorithm,
    signatureValue: encoded ?? signature,
  });
  return x509.PemConverter.encode(AsnConvert.serialize(signed), "CERTIFICATE");
};

/** One DER element: tag, short or long length, content. */
export const der = (tag: number, content: Uint8Array | string): Uint8Array => {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  const length =
    bytes.length < 0x80 ? [bytes.length] : [0x82, (bytes.length >> 8) & 0xff, bytes.length & 0xff];
  return new Uint8Array([tag, ...length, ...bytes]);
};

export const TAG = {
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  UTF8_STRING: 0x0c,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  VISIBLE_STRING: 0x1a,
} as const;

/** Gives the certificate a subject of one attribute whose value is `element`, whatever its type. */
export const subjectOf = (oid: string, element: Uint8Array) => (certificate: Certificate) => {
  const value = new AttributeValue({ anyValue: element.slice().buffer });
  certificate.tbsCertificate.subject = new Name([
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type: oid, value })]),
  ]);
};
