import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

/**
 * The CLI as an operator gets it: `npm pack`, the tarball installed with npm into a prefix of its
 * own, `fleetgate` run from there. Nothing of the development checkout is on its path.
 */
const root = join(import.meta.dirname, "..", "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
const work = mkdtempSync(join(tmpdir(), "fleetgate-cli-package-"));
const tarball = join(work, `fleetgate-${version}.tgz`);
const prefix = join(work, "prefix");
const installed = join(prefix, "node_modules", ".bin", "fleetgate");

const run = (command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = work) => {
  const result = spawnSync(command, args, { cwd, env, encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
};

const succeed = (command: string, args: readonly string[], cwd = work) => {
  const result = run(command, args, process.env, cwd);
  if (result.code !== 0) throw new Error(`${command} ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`);
  return result;
};

/** The installed CLI with a clean environment: static keys, a region, no AWS files, no metadata. */
const fleetgate = (...args: string[]) =>
  run(installed, args, {
    PATH: process.env.PATH,
    HOME: work,
    AWS_ACCESS_KEY_ID: "AKIAPACKAGETEST00001",
    AWS_SECRET_ACCESS_KEY: "secret",
    AWS_REGION: "eu-west-1",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  });

beforeAll(() => {
  // `npm pack` builds the bundle first (the prepare script), as `npm publish` would.
  succeed("npm", ["pack", "--pack-destination", work, "--silent"], root);
  // Whatever the package declares comes from npm's cache when it is there.
  succeed("npm", ["install", "--prefix", prefix, tarball, "--no-audit", "--no-fund", "--prefer-offline"]);
});

describe("fleetgate as npm pack makes it", () => {
  it("ships the bundle and its launcher, not the sources", () => {
    const files = succeed("tar", ["tzf", tarball]).stdout.trim().split("\n");
    expect(files).toContain("package/bin/fleetgate.mjs");
    expect(files).toContain("package/dist/fleetgate.mjs");
    expect(files.filter((file) => file.startsWith("package/src/"))).toEqual([]);
    expect(files.filter((file) => file.startsWith("package/test/"))).toEqual([]);
  });

  it("installed, prints package.json's version", () => {
    expect(fleetgate("--version")).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("installed, runs with no node_modules but its own: every dependency is in the bundle", async () => {
    const modules = join(prefix, "node_modules");
    for (const name of readdirSync(modules))
      if (name !== "fleetgate" && name !== ".bin") rmSync(join(modules, name), { recursive: true });
    expect(fleetgate("--help")).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^Usage: fleetgate/),
    });
    // Signing a request loads the credential chain and SigV4; nothing listens on the port.
    const port = await freePort();
    const shown = fleetgate("device", "show", "d-1", "--api-url", `http://127.0.0.1:${port}`);
    expect(shown.stderr).toContain(
      `cannot reach GET http://127.0.0.1:${port}/devices/d-1: connection refused`,
    );
    expect(shown.code).toBe(7);
    // Reading a certificate loads the X.509 library from a chunk of its own, which needs its
    // reflection polyfill first; a CA that is not a certificate is refused before any AWS call.
    const notCa = join(work, "not-a-ca.pem");
    writeFileSync(notCa, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    const refused = fleetgate("ca", "register", notCa, "--sni-only");
    expect(refused.stderr).toMatch(/^fleetgate: not a certificate: /);
    expect(refused.code).toBe(2);
  });
});

const freePort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
};
