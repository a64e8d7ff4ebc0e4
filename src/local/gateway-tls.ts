import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { createCa, exportPrivateKeyPem, generateKeys } from "./dev-pki.js";

/**
 * The TLS identity of the local AWS endpoint: a CA of its own and a server certificate for
 * 127.0.0.1 and localhost. The emulator serves HTTPS with it, so the functions, the tests and the
 * CLI talk to it over TLS as they do to AWS (and `aws:SecureTransport` conditions hold); they
 * trust the CA through AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS. Made once, kept in `.local/`.
 */
export interface GatewayTls {
  /** The CA to trust. */
  readonly caPath: string;
  readonly certificatePath: string;
  readonly keyPath: string;
}

const DAY = 86_400_000;

const filesIn = (directory: string): GatewayTls => ({
  caPath: join(directory, "ca.pem"),
  certificatePath: join(directory, "server.pem"),
  keyPath: join(directory, "server.key"),
});

export const gatewayTls = async (directory: string): Promise<GatewayTls> => {
  const files = filesIn(directory);
  if (existsSync(files.certificatePath) && !expiresSoon(files.certificatePath)) return files;
  rmSync(directory, { recursive: true, force: true });
  // Made in a directory of its own and renamed into place whole: of two processes starting at
  // once, one wins and both use the same files.
  const staging = `${directory}.${process.pid}`;
  mkdirSync(staging, { recursive: true });
  await writeTls(filesIn(staging));
  try {
    renameSync(staging, directory);
  } catch {
    rmSync(staging, { recursive: true, force: true });
  }
  return files;
};

const writeTls = async (files: GatewayTls): Promise<void> => {
  const ca = await createCa({ name: `fleetgate local endpoint CA ${Date.now()}` });
  const keys = await generateKeys({ type: "EC", curve: "P-256" });
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(12))).toString("hex"),
    subject: "CN=localhost",
    issuer: ca.certificate.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ca.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
      ]),
    ],
  });
  writeFileSync(files.keyPath, await exportPrivateKeyPem(keys.privateKey), { mode: 0o600 });
  writeFileSync(files.certificatePath, `${server.toString("pem")}\n`);
  writeFileSync(files.caPath, `${ca.pem}\n`);
};

const expiresSoon = (path: string): boolean =>
  new x509.X509Certificate(readFileSync(path, "utf8")).notAfter.getTime() < Date.now() + 30 * DAY;
