import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCa, generateKeys, issueDeviceCertificate } from "#local/dev-pki.js";
import { HERD_DIR } from "./bundle.js";

/**
 * The herd's certificates: one CA and a certificate per device (EC P-256, its device id as CN),
 * signed for real, so every JITR invocation parses and verifies each one as in production. Issuing
 * takes about a millisecond each; a set is kept in .local/herd/ and used again for 30 days.
 */
export interface HerdPki {
  readonly caPem: string;
  /** Device id -> certificate PEM. */
  readonly devices: readonly { deviceId: string; pem: string }[];
}

const MAX_AGE_MS = 30 * 86_400_000;

export const herdPki = async (prefix: string, count: number): Promise<HerdPki> => {
  const file = join(HERD_DIR, `pki-${prefix}-${count}.json`);
  if (existsSync(file)) {
    const cached = JSON.parse(readFileSync(file, "utf8")) as HerdPki & { issuedAt: number };
    if (Date.now() - cached.issuedAt < MAX_AGE_MS) return cached;
  }
  const ca = await createCa({ name: `Herd ${prefix}` });
  // One key for every device: a certificate's signature is what each provisioning verifies.
  const keys = await generateKeys({ type: "EC", curve: "P-256" });
  const devices: { deviceId: string; pem: string }[] = [];
  for (let i = 0; i < count; i += 1) {
    const deviceId = `${prefix}-${String(i).padStart(6, "0")}`;
    devices.push({ deviceId, pem: (await issueDeviceCertificate(ca, { deviceId, keys })).pem });
  }
  const pki = { caPem: ca.pem, devices };
  writeFileSync(file, JSON.stringify({ ...pki, issuedAt: Date.now() }));
  return pki;
};
