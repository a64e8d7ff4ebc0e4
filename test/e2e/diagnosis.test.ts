import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectWithRetries, type DeviceSession } from "#local/device.js";
import { createE2eWorld, type E2eWorld, eventually } from "#test/support/e2e-world.js";

/**
 * "Why can't device X connect?" on the deployed stack: a real device refused for its certificate,
 * then the operator's CLI asking the deployed API.
 */
let world: E2eWorld;
const sessions: DeviceSession[] = [];

beforeAll(async () => {
  world = await createE2eWorld("why");
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

describe("fleetgate device why, through the deployed API", () => {
  it("answers a device refused for its certificate with the refusal, IoT Core's status and the advice", async () => {
    const device = await world.device(world.id("ca-cert"), { isCa: true });
    await world.registerBatch(`deviceId\n${device.deviceId}\n`);

    const attempt = await connectWithRetries(device.identity, world.stack.mqtt, { maxAttempts: 4 });
    expect(attempt.session).toBeUndefined();
    await eventually(
      () => world.certificateStatus(device.certificateId),
      (status) => status === "REVOKED",
      { what: "the refused certificate revoked" },
    );

    const why = await world.cli(["device", "why", device.deviceId]);

    expect(why.code, why.stderr).toBe(0);
    const lines = why.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(new RegExp(`^device ${device.deviceId}: ALLOWED, batch \\S+$`));
    expect(lines[1]).toMatch(
      new RegExp(
        `^\\S+  certificate ${device.certificateId}  fleetgate REFUSED  IoT Core REVOKED  CERTIFICATE_IS_CA: `,
      ),
    );
    expect(lines.at(-1)).toBe(
      "advice: The device needs a new certificate from the manufacturing line; this one stays revoked. A device certificate must not be a CA.",
    );

    const json = JSON.parse((await world.cli(["device", "why", device.deviceId, "--json"])).stdout);
    expect(json).toMatchObject({
      deviceId: device.deviceId,
      onAllowlist: true,
      attempts: [{ certificateId: device.certificateId, outcome: "REFUSED", certificateStatus: "REVOKED" }],
    });

    const certificate = await world.cli(["cert", "show", device.certificateId.toUpperCase()]);
    expect(certificate.stdout).toContain("IoT Core     REVOKED");
    expect(certificate.stdout).toMatch(/fleetgate {4}REJECTED CERTIFICATE_IS_CA: /);
  });

  it("device show points a device on no batch to device why, which says its certificate waits for its manifest", async () => {
    const device = await world.device(world.id("unlisted"));
    expect(
      (await connectWithRetries(device.identity, world.stack.mqtt, { maxAttempts: 2 })).session,
    ).toBeUndefined();
    // The record first, then the device's history: device why reads both.
    await eventually(
      () => world.history(device.deviceId),
      (events) => events.includes("CERTIFICATE_WAITING"),
      { what: "the first WAITING connect in the device's history" },
    );

    const show = await world.cli(["device", "show", device.deviceId]);
    expect(show.code).toBe(4);
    expect(show.stderr).toContain(`fleetgate device why ${device.deviceId}`);

    const why = await world.cli(["device", "why", device.deviceId]);
    expect(why.stdout).toContain(`device ${device.deviceId}: not on the allowlist`);
    expect(why.stdout).toMatch(/fleetgate WAITING {2}IoT Core PENDING_ACTIVATION {2}NOT_ON_ALLOWLIST: /);
    expect(why.stdout).toMatch(/advice: No batch lists this device yet: register its manifest/);
  });
});
