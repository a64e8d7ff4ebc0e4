import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DeviceOptions, SERVER_AUTH } from "#local/dev-pki.js";
import { connectOnce, connectWithRetries, type DeviceSession } from "#local/device.js";
import { createE2eWorld, type E2eWorld, eventually, type TestDevice } from "#test/support/e2e-world.js";

/**
 * A device's first connection, end to end: the packaged stack deployed on the local AWS (IAM
 * enforced), IoT Core's JITR registering the certificate on a real CONNECT over mutual TLS, the
 * topic rule, the queue, the JITR function under its own role, and the device's next CONNECT.
 */
let world: E2eWorld;
const sessions: DeviceSession[] = [];
const DAY = 86_400_000;

beforeAll(async () => {
  world = await createE2eWorld("first");
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

const connect = async (device: TestDevice, attempts = 12) => {
  const result = await connectWithRetries(device.identity, world.stack.mqtt, { maxAttempts: attempts });
  if (result.session) sessions.push(result.session);
  return result;
};

describe("a listed device's first connection", () => {
  it.each<[string, DeviceOptions]>([
    ["EC P-256", {}],
    ["RSA 2048", { key: { type: "RSA", bits: 2048 } }],
    ["EC P-384", { key: { type: "EC", curve: "P-384" }, hash: "SHA-384" }],
  ])(
    "%s: the first CONNECT is closed without a CONNACK, a retry is accepted, and the device publishes on its own topic",
    async (_, options) => {
      const device = await world.device(
        world.id(
          `good-${options.key?.type ?? "ec"}-${options.key && "bits" in options.key ? options.key.bits : ""}${options.hash ?? ""}`.toLowerCase(),
        ),
        options,
      );
      await world.registerBatch(`deviceId,model\n${device.deviceId},sensor\n`);

      const result = await connect(device);

      expect(result.attempts[0]?.outcome).toBe("closed-without-connack");
      expect(result.session, JSON.stringify(result.attempts)).toBeDefined();
      await result.session?.publish(`devices/${device.deviceId}/telemetry`, '{"t":21.5}');
      await world.untilActive(device.deviceId);
      expect(await world.certificateStatus(device.certificateId)).toBe("ACTIVE");
      expect(await world.history(device.deviceId)).toEqual(["PROVISIONING_STARTED", "ACTIVATED"]);
    },
  );
});

describe("the session proves the device policy", () => {
  let first: TestDevice;
  let second: TestDevice;

  beforeAll(async () => {
    first = await world.device(world.id("policy-a"));
    second = await world.device(world.id("policy-b"));
    await world.registerBatch(`deviceId\n${first.deviceId}\n${second.deviceId}\n`);
    for (const device of [first, second]) {
      const result = await connect(device);
      expect(result.session).toBeDefined();
      await result.session?.end();
    }
  });

  it("publishing to another device's topic ends the session", async () => {
    const { session } = await connect(first, 1);
    if (!session) throw new Error("not accepted");
    await session.publish(`devices/${first.deviceId}/ok`, "1");

    await expect(session.publish(`devices/${second.deviceId}/telemetry`, "spoofed")).rejects.toThrow(/ended/);
    await session.closed;
  });

  it("connecting with another device's client id is refused", async () => {
    const outcome = await connectOnce({ ...first.identity, clientId: second.deviceId }, world.stack.mqtt);
    expect(outcome.kind).not.toBe("accepted");
  });
});

describe("devices that are not provisioned", () => {
  it("a device that connects before its manifest waits unrevoked, and is provisioned on its first connect after the manifest lands", async () => {
    const device = await world.device(world.id("early"));

    const early = await connect(device, 4);
    expect(early.session).toBeUndefined();
    await eventually(
      () => world.certificateRecord(device.certificateId),
      (record) => record?.outcome === "WAITING",
      { what: "a WAITING record" },
    );
    expect(await world.certificateStatus(device.certificateId)).toBe("PENDING_ACTIVATION");

    await world.registerBatch(`deviceId\n${device.deviceId}\n`);
    const later = await connect(device);
    expect(later.session).toBeDefined();
    expect(await world.certificateStatus(device.certificateId)).toBe("ACTIVE");
  });

  it("a clone (the same identity with another key) is refused and revoked; the first device keeps connecting", async () => {
    const original = await world.device(world.id("cloned"));
    await world.registerBatch(`deviceId\n${original.deviceId}\n`);
    expect((await connect(original)).session).toBeDefined();
    const clone = await world.device(original.deviceId);

    expect((await connect(clone, 5)).session).toBeUndefined();

    await eventually(
      () => world.certificateStatus(clone.certificateId),
      (status) => status === "REVOKED",
      { what: "the clone revoked" },
    );
    expect(await world.certificateRecord(clone.certificateId)).toMatchObject({
      outcome: "REJECTED",
      refusal: { code: "IDENTITY_ALREADY_CLAIMED" },
    });
    expect((await connect(original, 1)).session).toBeDefined();
  });

  it("a device of another product line's CA waits: its certificate is neither activated nor revoked", async () => {
    const other = await world.anotherCa("other-line");
    const device = await world.device(world.id("cross-line"), {}, other.ca);
    await world.registerBatch(`deviceId\n${device.deviceId}\n`);

    expect((await connect(device, 4)).session).toBeUndefined();

    const record = await eventually(
      () => world.certificateRecord(device.certificateId),
      (value) => value?.outcome === "WAITING",
      { what: "a WAITING record" },
    );
    expect(record).toMatchObject({ refusal: { code: "CA_NOT_BATCH_CA" } });
    expect(await world.certificateStatus(device.certificateId)).toBe("PENDING_ACTIVATION");
  });

  // IoT Core's TLS refuses some of these before fleetgate sees them, fleetgate refuses the rest:
  // either way the device never gets a session and its certificate is never ACTIVE.
  it.each<[string, DeviceOptions, string | undefined]>([
    [
      "expired",
      { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) },
      undefined,
    ],
    ["not yet valid", { notBefore: new Date(Date.now() + DAY) }, undefined],
    ["RSA 1024", { key: { type: "RSA", bits: 1024 } }, undefined],
    ["server authentication only", { extendedKeyUsages: [SERVER_AUTH] }, undefined],
    ["a CA certificate", { isCa: true }, "CERTIFICATE_IS_CA"],
    ["a device id that is not a Thing name", { subject: "CN=sensor/+" }, "DEVICE_ID_INVALID"],
  ])("%s: never accepted, never ACTIVE", async (label, options, code) => {
    const device = await world.device(world.id(label.replace(/\W+/g, "-")), options);
    await world.registerBatch(`deviceId\n${device.deviceId}\n`);

    expect((await connect(device, 4)).session).toBeUndefined();

    if (code) {
      // Recorded first, then revoked.
      await eventually(
        () => world.certificateStatus(device.certificateId),
        (status) => status === "REVOKED",
        { what: `the certificate revoked for ${code}` },
      );
      expect(await world.certificateRecord(device.certificateId)).toMatchObject({
        outcome: "REJECTED",
        refusal: { code },
      });
    } else {
      expect(await world.certificateStatus(device.certificateId)).not.toBe("ACTIVE");
    }
  });

  it("a certificate signed by an impostor with the CA's name is never accepted", async () => {
    const { createCa } = await import("#local/dev-pki.js");
    const impostor = await createCa({ name: world.ca.certificate.subjectName.getField("CN")[0] });
    const device = await world.device(world.id("forged"), {}, impostor);
    await world.registerBatch(`deviceId\n${device.deviceId}\n`);

    expect((await connect(device, 3)).session).toBeUndefined();
    expect(await world.certificateStatus(device.certificateId)).not.toBe("ACTIVE");
  });
});
