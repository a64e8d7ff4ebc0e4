import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeCACertificateCommand } from "@aws-sdk/client-iot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa, exportPrivateKeyPem, type Issuer } from "#local/dev-pki.js";
import { connectOnce, connectWithRetries, type DeviceSession } from "#local/device.js";
import { createE2eWorld, type E2eWorld, eventually } from "#test/support/e2e-world.js";

/**
 * A CA onboarded with the CLI as an operator does it: the key stays in a local file, IoT Core
 * registers the CA, its devices provision on first connection; deactivating it with --recall stops
 * new registrations and revokes every device it issued, through the deployed recall worker.
 */
let world: E2eWorld;
const sessions: DeviceSession[] = [];
const files = mkdtempSync(join(tmpdir(), "fleetgate-ca-"));

beforeAll(async () => {
  world = await createE2eWorld("onboard");
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

const writeCa = async (ca: Issuer, withKey = true) => {
  const base = join(files, randomUUID());
  writeFileSync(`${base}.pem`, ca.pem);
  if (withKey) writeFileSync(`${base}.key`, await exportPrivateKeyPem(ca.keys.privateKey), { mode: 0o600 });
  return { pem: `${base}.pem`, key: `${base}.key` };
};

const describeCa = async (certificateId: string) =>
  (await world.iot.send(new DescribeCACertificateCommand({ certificateId }))).certificateDescription;

describe("fleetgate ca", () => {
  it("registers a CA with its key kept local; its devices then provision on first connection", async () => {
    const ca = await createCa({ name: `onboarded line ${randomUUID().slice(0, 8)}` });
    const paths = await writeCa(ca);

    const registered = await world.cli(["ca", "register", paths.pem, "--key", paths.key, "--json"]);

    expect(registered.code, registered.stderr).toBe(0);
    const view = JSON.parse(registered.stdout);
    expect(view).toMatchObject({
      status: "ACTIVE",
      autoRegistration: "ENABLE",
      mode: "DEFAULT",
      warnings: [],
    });
    expect(await describeCa(view.caCertificateId)).toMatchObject({
      status: "ACTIVE",
      autoRegistrationStatus: "ENABLE",
      certificateMode: "DEFAULT",
    });
    const listed = JSON.parse((await world.cli(["ca", "list", "--json"])).stdout);
    expect(listed.cas).toContainEqual(expect.objectContaining({ caCertificateId: view.caCertificateId }));

    const device = await world.device(world.id("first"), {}, ca);
    await world.registerBatch(`deviceId\n${device.deviceId}\n`, view.caCertificateId);
    const connected = await connectWithRetries(device.identity, world.stack.mqtt);
    expect(connected.session, JSON.stringify(connected.attempts)).toBeDefined();
    if (connected.session) sessions.push(connected.session);
    await world.untilActive(device.deviceId);
  });

  it("refuses a certificate that is not a CA, and IoT Core never sees it", async () => {
    const notCa = await createCa({
      name: `not a ca ${randomUUID().slice(0, 8)}`,
      basicConstraints: { ca: false },
    });
    const paths = await writeCa(notCa);

    const result = await world.cli(["ca", "register", paths.pem, "--key", paths.key]);

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/CA refused: .*CA:TRUE/);
    const listed = JSON.parse((await world.cli(["ca", "list", "--json"])).stdout) as {
      cas: { subject?: string }[];
    };
    expect(listed.cas.map((ca) => ca.subject)).not.toContain(notCa.certificate.subject);
  });

  it("deactivate --recall stops new registrations and revokes every device the CA issued", async () => {
    const ca = await createCa({ name: `compromised line ${randomUUID().slice(0, 8)}` });
    const paths = await writeCa(ca);
    const view = JSON.parse(
      (await world.cli(["ca", "register", paths.pem, "--key", paths.key, "--json"])).stdout,
    );
    const devices = await Promise.all([0, 1].map((i) => world.device(world.id(`leaked-${i}`), {}, ca)));
    await world.registerBatch(
      `deviceId\n${devices.map((d) => d.deviceId).join("\n")}\n`,
      view.caCertificateId,
    );
    for (const device of devices) {
      const connected = await connectWithRetries(device.identity, world.stack.mqtt);
      if (connected.session) sessions.push(connected.session);
    }

    const result = await world.cli([
      "ca",
      "deactivate",
      view.caCertificateId,
      "--recall",
      "--reason",
      "CA key leaked",
      "--json",
    ]);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).batches).toHaveLength(1);
    expect(await describeCa(view.caCertificateId)).toMatchObject({
      status: "INACTIVE",
      autoRegistrationStatus: "DISABLE",
    });
    await eventually(
      () => Promise.all(devices.map((device) => world.certificateStatus(device.certificateId))),
      (statuses) => statuses.every((status) => status === "REVOKED"),
      { timeoutMs: 60_000, what: "every certificate of the CA REVOKED" },
    );
    for (const device of devices)
      expect((await connectOnce(device.identity, world.stack.mqtt)).kind).not.toBe("accepted");
    // A device of the CA that never connected is not registered now: the CA is out of service.
    const late = await world.device(world.id("late"), {}, ca);
    expect((await connectOnce(late.identity, world.stack.mqtt)).kind).not.toBe("accepted");
    expect(await world.certificateStatus(late.certificateId)).toBeUndefined();
  });
});
