import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectOnce, connectWithRetries, type DeviceSession } from "#local/device.js";
import { createE2eWorld, type E2eWorld, eventually, type TestDevice } from "#test/support/e2e-world.js";

/**
 * Operations on the deployed stack: the CLI calls the deployed API (SigV4, IAM on every route), the
 * operations function changes IoT Core under its own role, the recall worker pages through a lot.
 */
let world: E2eWorld;
const sessions: DeviceSession[] = [];

beforeAll(async () => {
  world = await createE2eWorld("ops");
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

const provision = async (device: TestDevice): Promise<DeviceSession> => {
  const result = await connectWithRetries(device.identity, world.stack.mqtt);
  if (!result.session) throw new Error(`${device.deviceId} not accepted: ${JSON.stringify(result.attempts)}`);
  sessions.push(result.session);
  await world.untilActive(device.deviceId);
  return result.session;
};

const reconnect = async (device: TestDevice) => {
  const outcome = await connectOnce(device.identity, world.stack.mqtt);
  if (outcome.kind === "accepted") sessions.push(outcome.session);
  return outcome.kind;
};

describe("operator actions through the CLI and the deployed API", () => {
  it("revoke drops the live connection at once and refuses every later connect", async () => {
    const device = await world.device(world.id("revoked"));
    await world.registerBatch(`deviceId\n${device.deviceId}\n`);
    const session = await provision(device);

    const result = await world.cli(["device", "revoke", device.deviceId, "--reason", "stolen", "--json"]);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ device: { state: "REVOKED" }, connection: "dropped" });
    await session.closed;
    expect(session.isConnected()).toBe(false);
    expect(await world.certificateStatus(device.certificateId)).toBe("REVOKED");
    expect(await reconnect(device)).not.toBe("accepted");
    expect(await world.history(device.deviceId)).toEqual(["PROVISIONING_STARTED", "ACTIVATED", "REVOKED"]);
  });

  it("suspend drops the device and keeps it out; reactivate lets it back in", async () => {
    const device = await world.device(world.id("paused"));
    await world.registerBatch(`deviceId\n${device.deviceId}\n`);
    const session = await provision(device);

    expect((await world.cli(["device", "suspend", device.deviceId, "--reason", "unpaid"])).code).toBe(0);
    await session.closed;
    expect(await reconnect(device)).not.toBe("accepted");

    expect((await world.cli(["device", "reactivate", device.deviceId])).code).toBe(0);
    expect(await reconnect(device)).toBe("accepted");
  });

  it("an illegal transition is a conflict, with exit code 5, and changes nothing", async () => {
    const device = await world.device(world.id("gone"));
    await world.registerBatch(`deviceId\n${device.deviceId}\n`);
    await provision(device);
    await world.cli(["device", "revoke", device.deviceId, "--reason", "lost"]);

    const result = await world.cli(["device", "reactivate", device.deviceId]);

    expect(result.code).toBe(5);
    expect(await world.certificateStatus(device.certificateId)).toBe("REVOKED");
  });
});

describe("a recall through the deployed recall worker", () => {
  it("revokes every device of the lot, page by page, and none of them can connect again", async () => {
    const lot = await Promise.all(Array.from({ length: 4 }, (_, i) => world.device(world.id(`lot-${i}`))));
    const batchId = await world.registerBatch(`deviceId\n${lot.map((d) => d.deviceId).join("\n")}\n`);
    for (const device of lot) await provision(device);

    const started = await world.cli(["batch", "recall", batchId, "--reason", "lot compromised", "--json"]);
    expect(started.code, started.stderr).toBe(0);

    // The recall is RECALLED once its last page is done, after every device of the page.
    const batch = await eventually(
      async () => JSON.parse((await world.cli(["batch", "show", batchId, "--json"])).stdout),
      (shown) => shown.recall?.state === "RECALLED",
      { timeoutMs: 60_000, what: "the recall RECALLED" },
    );
    expect(batch.recall).toMatchObject({ reason: "lot compromised" });
    for (const device of lot) {
      expect(await world.certificateStatus(device.certificateId)).toBe("REVOKED");
      expect(await world.deviceRecord(device.deviceId)).toMatchObject({ state: "REVOKED" });
      expect(await reconnect(device)).not.toBe("accepted");
    }
  });
});
