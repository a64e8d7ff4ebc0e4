import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { caKeySigner } from "#adapters/verification-signer.js";
import { EXIT, runCli } from "#cli/program.js";
import { createCa, exportPrivateKeyPem } from "#local/dev-pki.js";
import { fakeCaRegistry } from "#test/support/fake-ca-registry.js";

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), "fleetgate-ca-cli-"));
let iot: ReturnType<typeof fakeCaRegistry>;
let out: string[];
let err: string[];

const run = (...argv: string[]) =>
  runCli(argv, {
    devices: { api: () => async () => ({ status: 500, body: {} }), out: (text) => out.push(text) },
    deps: () => Promise.reject(new Error("no table")),
    cas: {
      cas: async () => iot.registry,
      signer: async (caPem, keyPem) => caKeySigner(caPem, keyPem),
      now: () => new Date(),
    },
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    actor: "cli:test",
  });

const caFiles = async (name: string, notAfter?: Date) => {
  const ca = await createCa({ name, ...(notAfter ? { notAfter } : {}) });
  writeFileSync(join(dir, `${name}.pem`), ca.pem);
  writeFileSync(join(dir, `${name}.key`), await exportPrivateKeyPem(ca.keys.privateKey));
  return { pem: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
};

beforeEach(() => {
  iot = fakeCaRegistry();
  out = [];
  err = [];
});

describe("fleetgate ca register", () => {
  it("says what was registered, warns about a CA that expires soon, and shows the next step", async () => {
    const files = await caFiles("soon", new Date(Date.now() + 20 * DAY));
    expect(await run("ca", "register", files.pem, "--key", files.key)).toBe(EXIT.ok);
    const text = out.join("\n");
    expect(text).toMatch(/status\s+ACTIVE, auto-registration on, DEFAULT mode/);
    expect(text).toMatch(/warning\s+the CA expires in 1\d days/);
    expect(text).toMatch(/next\s+fleetgate batch register <manifest> --ca [0-9a-f]{64}/);
    expect(iot.calls).toEqual(["GetRegistrationCode", "RegisterCACertificate"]);
  });

  it("needs exactly one of --key and --sni-only", async () => {
    const files = await caFiles("modes");
    expect(await run("ca", "register", files.pem)).toBe(EXIT.invalid);
    expect(await run("ca", "register", files.pem, "--key", files.key, "--sni-only")).toBe(EXIT.invalid);
    expect(err.join("\n")).toContain("give --key <ca.key> (DEFAULT mode) or --sni-only");
    expect(iot.calls).toEqual([]);
  });

  it("refuses a key that is not the CA's before any call to IoT Core", async () => {
    const files = await caFiles("mine");
    const other = await caFiles("theirs");
    expect(await run("ca", "register", files.pem, "--key", other.key)).toBe(EXIT.invalid);
    expect(err.join("\n")).toContain("the key is not the CA certificate's key");
    expect(iot.calls).toEqual([]);
  });
});

describe("fleetgate ca show, list, deactivate", () => {
  it("refuses an id that is not a CA certificate id", async () => {
    expect(await run("ca", "show", "not-an-id")).toBe(EXIT.invalid);
    expect(err.join("\n")).toContain("is not a CA certificate id");
  });

  it("says a CA that is not registered is not found (exit 4)", async () => {
    expect(await run("ca", "deactivate", "ab".repeat(32))).toBe(EXIT.notFound);
  });

  it("deactivating without --recall says how the devices are recalled; --recall needs a reason", async () => {
    const files = await caFiles("paused");
    await run("ca", "register", files.pem, "--sni-only", "--json");
    const { caCertificateId } = JSON.parse(out.join(""));
    out = [];
    expect(await run("ca", "deactivate", caCertificateId, "--recall")).toBe(EXIT.invalid);
    expect(await run("ca", "deactivate", caCertificateId)).toBe(EXIT.ok);
    expect(out.join("\n")).toContain(`fleetgate ca recall ${caCertificateId} --reason <text>`);
    expect(await run("ca", "list")).toBe(EXIT.ok);
    expect(out.join("\n")).toMatch(new RegExp(`${caCertificateId}\\s+INACTIVE\\s+DISABLE\\s+SNI_ONLY`));
  });

  it("lists no CAs in words", async () => {
    expect(await run("ca", "list")).toBe(EXIT.ok);
    expect(out).toEqual(["no CAs registered"]);
  });
});
