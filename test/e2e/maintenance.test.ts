import {
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  UpdateCertificateCommand,
} from "@aws-sdk/client-iot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectWithRetries, type DeviceSession } from "#local/device.js";
import { createE2eWorld, type E2eWorld, type TestDevice } from "#test/support/e2e-world.js";

/**
 * The reconciler and the expiry watch on the deployed stack: through the operations API with the
 * CLI, and the scheduled function under its own role, IAM evaluated on every call.
 */
let world: E2eWorld;
const sessions: DeviceSession[] = [];

beforeAll(async () => {
  world = await createE2eWorld("drift");
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

const provision = async (device: TestDevice) => {
  await world.registerBatch(`deviceId\n${device.deviceId}\n`);
  const result = await connectWithRetries(device.identity, world.stack.mqtt);
  if (!result.session) throw new Error(`${device.deviceId} not accepted: ${JSON.stringify(result.attempts)}`);
  sessions.push(result.session);
  await world.untilActive(device.deviceId);
};

/** A certificate made outside fleetgate, ACTIVE, attached to the device's Thing. */
const foreignCertificate = async (thingName: string): Promise<string> => {
  const made = await world.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  await world.iot.send(new AttachThingPrincipalCommand({ thingName, principal: made.certificateArn ?? "" }));
  return made.certificateId ?? "";
};

describe("fleetgate reconcile, through the deployed API", () => {
  it("finds an ACTIVE certificate on a revoked device's Thing, and --repair revokes it", async () => {
    const device = await world.device(world.id("revoked"));
    await provision(device);
    expect((await world.cli(["device", "revoke", device.deviceId, "--reason", "stolen"])).code).toBe(0);
    const extra = await foreignCertificate(device.deviceId);

    const found = await world.cli(["reconcile", "--device", device.deviceId]);

    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).toContain(
      `SECURITY REVOKED_DEVICE_CERTIFICATE_ACTIVE  ${device.deviceId} (REVOKED)  certificate ${extra}`,
    );
    expect(found.stdout).toContain("fleetgate reconcile --repair revokes the 1 ACTIVE certificates");
    expect(await world.certificateStatus(extra)).toBe("ACTIVE");

    const repaired = JSON.parse(
      (await world.cli(["reconcile", "--device", device.deviceId, "--repair", "--json"])).stdout,
    );

    expect(repaired.drifts).toEqual([
      expect.objectContaining({
        certificateId: extra,
        repair: expect.objectContaining({ outcome: "REVOKED" }),
      }),
    ]);
    expect(await world.certificateStatus(extra)).toBe("REVOKED");
    expect(await world.history(device.deviceId)).toContain("CERTIFICATE_REVOKED");
  });

  it("walks every record and Thing page by page and reports a device whose certificate was deactivated behind its back", async () => {
    const device = await world.device(world.id("deactivated"));
    await provision(device);
    await world.iot.send(
      new UpdateCertificateCommand({ certificateId: device.certificateId, newStatus: "INACTIVE" }),
    );

    const pass = await world.cli(["reconcile", "--limit", "200", "--json"]);

    expect(pass.code, pass.stderr).toBe(0);
    const report = JSON.parse(pass.stdout) as {
      drifts: { deviceId: string; kind: string }[];
      examined: number;
    };
    expect(report.drifts.filter((drift) => drift.deviceId === device.deviceId)).toEqual([
      expect.objectContaining({
        kind: "RECORD_ACTIVE_CERTIFICATE_NOT_ACTIVE",
        certificateStatus: "INACTIVE",
        action: expect.stringMatching(/fleetgate device suspend/),
      }),
    ]);
    expect(report.examined).toBeGreaterThan(1);
  });
});

describe("the expiry watch, through the deployed API", () => {
  it("lists a device certificate and a CA that expire within the horizon", async () => {
    const device = await world.device(world.id("expiring"), {
      notAfter: new Date(Date.now() + 10 * 86_400_000),
    });
    await provision(device);

    const soon = JSON.parse(
      (await world.cli(["expiring", "--days", "20", "--ca-days", "400", "--json"])).stdout,
    );

    expect(soon.devices).toContainEqual(
      expect.objectContaining({
        deviceId: device.deviceId,
        certificateId: device.certificateId,
        daysLeft: 9,
      }),
    );
    expect(soon.cas).toContainEqual(expect.objectContaining({ caCertificateId: world.caCertificateId }));
    const readable = await world.cli(["expiring", "--days", "5"]);
    expect(readable.stdout).not.toContain(device.deviceId);
    expect(readable.stdout).toMatch(/^device certificates expiring within 5 days \(or expired\): /);
  });
});

describe("the scheduled reconciler, under its own role", () => {
  it("runs the expiry watch and a whole pass of the reconciler", async () => {
    const name = world.stack.stack.resources.ReconcilerLambdaFunction ?? "";

    const out = await world.invoke(name, {});

    const answer = JSON.parse(new TextDecoder().decode(out.Payload));
    expect(out.FunctionError, JSON.stringify(answer)).toBeUndefined();
    expect(answer).toMatchObject({
      expiring: { devices: expect.any(Number), cas: expect.any(Number) },
      reconciled: { pass: "complete" },
    });
    expect(answer.reconciled.examined).toBeGreaterThan(0);
  });
});
