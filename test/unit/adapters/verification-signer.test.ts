import "reflect-metadata";
import { createPrivateKey } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { caKeySigner } from "#adapters/verification-signer.js";
import { createCa, exportPrivateKeyPem, type KeySpec } from "#local/dev-pki.js";

const CODE = "0123456789abcdef".repeat(4);

describe("the verification certificate of DEFAULT mode", () => {
  it.each<[string, KeySpec]>([
    ["EC P-256", { type: "EC", curve: "P-256" }],
    ["EC P-384", { type: "EC", curve: "P-384" }],
    ["RSA 2048", { type: "RSA", bits: 2048 }],
  ])(
    "is signed by a %s CA key, names the registration code, and verifies against the CA",
    async (_name, key) => {
      const ca = await createCa({ key });
      const pem = await caKeySigner(ca.pem, await exportPrivateKeyPem(ca.keys.privateKey))(CODE);
      const verification = new x509.X509Certificate(pem);
      expect(verification.subject).toBe(`CN=${CODE}`);
      expect(verification.issuer).toBe(ca.certificate.subject);
      expect(await verification.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true })).toBe(
        true,
      );
    },
  );

  it("takes the key as OpenSSL writes it by default (SEC1 EC PRIVATE KEY)", async () => {
    const ca = await createCa();
    const sec1 = createPrivateKey(await exportPrivateKeyPem(ca.keys.privateKey))
      .export({ type: "sec1", format: "pem" })
      .toString();
    expect(sec1).toContain("BEGIN EC PRIVATE KEY");
    const pem = await caKeySigner(ca.pem, sec1)(CODE);
    expect(
      await new x509.X509Certificate(pem).verify({
        publicKey: ca.certificate.publicKey,
        signatureOnly: true,
      }),
    ).toBe(true);
  });

  it("refuses a key that is not the CA's before signing anything", async () => {
    const ca = await createCa();
    const other = await createCa();
    expect(() => caKeySigner(ca.pem, "x")).toThrow(/not a private key/);
    await expect(async () =>
      caKeySigner(ca.pem, await exportPrivateKeyPem(other.keys.privateKey)),
    ).rejects.toThrow("the key is not the CA certificate's key");
  });

  it("asks for the passphrase of an encrypted key, and uses it when given", async () => {
    const ca = await createCa();
    const encrypted = createPrivateKey(await exportPrivateKeyPem(ca.keys.privateKey))
      .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "line 7" })
      .toString();
    expect(() => caKeySigner(ca.pem, encrypted)).toThrow(
      /encrypted: give its passphrase in FLEETGATE_CA_KEY_PASSPHRASE/,
    );
    expect(() => caKeySigner(ca.pem, encrypted, "wrong")).toThrow(/did not decrypt/);
    const pem = await caKeySigner(ca.pem, encrypted, "line 7")(CODE);
    expect(new x509.X509Certificate(pem).subject).toBe(`CN=${CODE}`);
  });
});
