import { describe, expect, it } from "vitest";
import { inspectCertificate } from "#domain/certificate.js";
import { CA_EXPIRY_WARNING_DAYS, checkCaForRegistration } from "#domain/certificate-checks.js";
import { type CaOptions, createCa } from "#local/dev-pki.js";

const DAY = 86_400_000;
const now = new Date();

const verdictFor = async (options: CaOptions) => {
  const inspection = inspectCertificate((await createCa(options)).pem);
  if (!inspection.ok) throw new Error(inspection.error);
  return checkCaForRegistration(inspection.certificate, now);
};

describe("checkCaForRegistration", () => {
  it("accepts a CA valid for longer than the warning period, with no warning", async () => {
    expect(await verdictFor({ notAfter: new Date(now.getTime() + 400 * DAY) })).toEqual({
      ok: true,
      warnings: [],
    });
  });

  it(`accepts a CA expiring within ${CA_EXPIRY_WARNING_DAYS} days with a warning naming the date`, async () => {
    const notAfter = new Date(now.getTime() + 30 * DAY);
    const verdict = await verdictFor({ notAfter });
    expect(verdict.ok).toBe(true);
    if (verdict.ok)
      expect(verdict.warnings).toEqual([expect.stringMatching(/expires in 2\d days .*successor/)]);
  });

  it.each([
    ["without CA:TRUE", { basicConstraints: { ca: false } }, "CA_NOT_A_CA"],
    ["without basic constraints", { basicConstraints: "absent" }, "CA_NOT_A_CA"],
    ["whose key usage lacks keyCertSign", { keyUsages: 0x80 }, "CA_NOT_A_CA"],
    ["that has expired", { notAfter: new Date(now.getTime() - DAY) }, "CA_CERTIFICATE_EXPIRED"],
    ["that is not valid yet", { notBefore: new Date(now.getTime() + DAY) }, "CA_CERTIFICATE_NOT_YET_VALID"],
    ["with an RSA key under 2048 bits", { key: { type: "RSA", bits: 1024 } }, "KEY_WEAK"],
  ] as const)("refuses a CA %s", async (_what, options, code) => {
    const verdict = await verdictFor(options as CaOptions);
    expect(verdict).toMatchObject({ ok: false, refusal: { code } });
  });
});
