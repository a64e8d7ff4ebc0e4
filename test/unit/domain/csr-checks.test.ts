import { describe, expect, it } from "vitest";
import { judgeCertificateRequest } from "#domain/csr-checks.js";
import type { DeviceId } from "#domain/ids.js";
import { createCertificateRequest } from "#local/dev-pki.js";

const DEVICE = "sensor-7" as DeviceId;

const codeOf = async (pem: string, deviceId: DeviceId = DEVICE, field: "CN" | "serialNumber" = "CN") => {
  const verdict = await judgeCertificateRequest(pem, deviceId, field);
  return verdict.ok ? "ok" : verdict.rejection.code;
};

describe("the crypto policy for a rotation's certificate request", () => {
  it.each([
    ["EC P-256", { type: "EC", curve: "P-256" }, "SHA-256"],
    ["EC P-384", { type: "EC", curve: "P-384" }, "SHA-384"],
    ["RSA 2048", { type: "RSA", bits: 2048 }, "SHA-256"],
  ] as const)("accepts a %s request naming the device", async (_, key, hash) => {
    const request = await createCertificateRequest({ deviceId: DEVICE, key, hash });
    expect(await codeOf(request.pem)).toBe("ok");
  });

  it("answers the request's public key and its own fingerprint, the same for the same request", async () => {
    const request = await createCertificateRequest({ deviceId: DEVICE });
    const first = await judgeCertificateRequest(request.pem, DEVICE, "CN");
    const again = await judgeCertificateRequest(request.pem, DEVICE, "CN");
    const other = await judgeCertificateRequest(
      (await createCertificateRequest({ deviceId: DEVICE, keys: request.keys })).pem,
      DEVICE,
      "CN",
    );
    if (!first.ok || !again.ok || !other.ok) throw new Error("expected accepted requests");
    expect(first.request).toEqual(again.request);
    expect(other.request.publicKeySha256).toBe(first.request.publicKeySha256);
    expect(other.request.requestSha256).not.toBe(first.request.requestSha256);
  });

  it("refuses an RSA key below 2048 bits as weak", async () => {
    const request = await createCertificateRequest({ deviceId: DEVICE, key: { type: "RSA", bits: 1024 } });
    expect(await codeOf(request.pem)).toBe("KEY_WEAK");
  });

  it("refuses a key type IoT Core does not take (Ed25519)", async () => {
    const request = await createCertificateRequest({ deviceId: DEVICE, key: { type: "Ed25519" } });
    expect(await codeOf(request.pem)).toBe("KEY_ALGORITHM_UNSUPPORTED");
  });

  it("refuses a request signed with SHA-1", async () => {
    const request = await createCertificateRequest({
      deviceId: DEVICE,
      key: { type: "RSA", bits: 2048 },
      hash: "SHA-1",
    });
    expect(await codeOf(request.pem)).toBe("SIGNATURE_HASH_WEAK");
  });

  it("refuses a request whose subject names another device", async () => {
    const request = await createCertificateRequest({ deviceId: "sensor-8" });
    const verdict = await judgeCertificateRequest(request.pem, DEVICE, "CN");
    expect(verdict).toEqual({
      ok: false,
      rejection: { code: "DEVICE_ID_MISMATCH", detail: "CN=sensor-8, not sensor-7" },
    });
  });

  it("reads the device id from the configured subject field, as for certificates", async () => {
    const request = await createCertificateRequest({ subject: `CN=Acme sensor, 2.5.4.5=${DEVICE}` });
    expect(await codeOf(request.pem, DEVICE, "serialNumber")).toBe("ok");
    expect(await codeOf(request.pem, DEVICE, "CN")).toBe("DEVICE_ID_INVALID");
  });

  it("refuses a subject without the device id field, or with it twice", async () => {
    expect(await codeOf((await createCertificateRequest({ subject: "O=Acme" })).pem)).toBe(
      "DEVICE_ID_MISSING",
    );
    expect(await codeOf((await createCertificateRequest({ subject: `CN=${DEVICE}, CN=sensor-8` })).pem)).toBe(
      "DEVICE_ID_AMBIGUOUS",
    );
  });

  it("refuses a request whose signature is not by its own key (no proof of possession)", async () => {
    const request = await createCertificateRequest({ deviceId: DEVICE });
    // Flip a bit near the end of the DER: inside the signature, the request still parses.
    const der = Buffer.from(request.pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    der[der.length - 4] = (der[der.length - 4] ?? 0) ^ 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(await codeOf(tampered)).toBe("CSR_SIGNATURE_INVALID");
  });

  it.each([
    ["empty", ""],
    ["a certificate, not a request", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"],
    ["garbage in the PEM", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"],
    [
      "too long",
      `-----BEGIN CERTIFICATE REQUEST-----\n${"A".repeat(20_000)}\n-----END CERTIFICATE REQUEST-----`,
    ],
  ])("refuses %s as malformed, without throwing", async (_, pem) => {
    expect(await codeOf(pem)).toBe("CSR_MALFORMED");
  });
});
