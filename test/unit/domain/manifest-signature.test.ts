import { createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { manifestVerifier } from "#domain/manifest-signature.js";

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const other = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const manifest = Buffer.from("deviceId\nsensor-1\nsensor-2\n");

const verifies = (signature: Buffer, keys: KeyObject[] = [publicKey], chunks = [manifest]) => {
  const verifier = manifestVerifier(keys);
  for (const chunk of chunks) verifier.update(chunk);
  return verifier.verify(signature.toString("base64"));
};

// ECDSA signatures are randomised: sign until the raw form starts as a DER sequence does (1 in 256).
const rawStartingWith0x30 = (): Buffer => {
  for (let attempt = 0; attempt < 20_000; attempt += 1) {
    const signature = sign("sha256", manifest, { key: privateKey, dsaEncoding: "ieee-p1363" });
    if (signature[0] === 0x30) return signature;
  }
  throw new Error("no raw signature starting with 0x30 in 20,000 tries");
};

describe("manifestVerifier", () => {
  it("accepts a DER signature and a raw r||s signature by a trusted key, fed in chunks", () => {
    const der = sign("sha256", manifest, privateKey);
    const raw = sign("sha256", manifest, { key: privateKey, dsaEncoding: "ieee-p1363" });
    const chunks = [manifest.subarray(0, 5), manifest.subarray(5)];
    expect(verifies(der, [publicKey], chunks)).toBe(true);
    expect(verifies(raw, [publicKey], chunks)).toBe(true);
  });

  it("accepts a raw r||s signature whose first byte is 0x30, as a DER sequence's is", () => {
    expect(verifies(rawStartingWith0x30())).toBe(true);
  });

  it("accepts a signature by any of several trusted keys, in either encoding", () => {
    const raw = rawStartingWith0x30();
    expect(
      verifies(raw, [other.publicKey, createPublicKey(publicKey.export({ format: "pem", type: "spki" }))]),
    ).toBe(true);
  });

  it("refuses a signature by an untrusted key, over other bytes, or that is no signature", () => {
    const der = sign("sha256", manifest, other.privateKey);
    expect(verifies(der)).toBe(false);
    expect(verifies(sign("sha256", Buffer.from("other"), privateKey))).toBe(false);
    expect(verifies(Buffer.alloc(64, 0x30))).toBe(false);
    expect(verifies(Buffer.alloc(0))).toBe(false);
    expect(verifies(Buffer.alloc(300, 1))).toBe(false);
  });
});
