import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectOnce, connectWithRetries, type DeviceIdentity, type DeviceSession } from "#local/device.js";
import {
  commitRotation,
  finishJob,
  type IssuedIdentity,
  ROTATION_JOB_OPERATION,
  requestCertificate,
  takeNextJob,
} from "#local/rotating-device.js";
import {
  createE2eWorld,
  type E2eWorld,
  eventually,
  SCHEDULED_EVENT,
  type TestDevice,
} from "#test/support/e2e-world.js";

/**
 * Certificate rotation on the deployed stack, with real devices over mutual TLS: the device's
 * request goes through the rotation topic rule and queue to the rotation function under its own
 * role, which issues with IoT Core's CreateCertificateFromCsr and answers on the device's topics;
 * the timers run in the rotation worker; operators ask through the CLI and the deployed API, and
 * devices are told through IoT Jobs.
 */
let world: E2eWorld;
const sessions: DeviceSession[] = [];

beforeAll(async () => {
  world = await createE2eWorld("rot");
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

/** A device provisioned through JITR, connected with its factory certificate. */
const provisioned = async (name: string): Promise<{ device: TestDevice; session: DeviceSession }> => {
  const device = await world.device(world.id(name));
  await world.registerBatch(`deviceId\n${device.deviceId}\n`);
  const result = await connectWithRetries(device.identity, world.stack.mqtt, { maxAttempts: 12 });
  if (!result.session) throw new Error(`${device.deviceId} not accepted: ${JSON.stringify(result.attempts)}`);
  sessions.push(result.session);
  await world.untilActive(device.deviceId);
  return { device, session: result.session };
};

const connect = async (identity: DeviceIdentity) => {
  const outcome = await connectOnce(identity, world.stack.mqtt);
  if (outcome.kind === "accepted") sessions.push(outcome.session);
  return outcome;
};

const connected = async (identity: DeviceIdentity): Promise<DeviceSession> => {
  const outcome = await connect(identity);
  if (outcome.kind !== "accepted") throw new Error(`not accepted: ${JSON.stringify(outcome)}`);
  return outcome.session;
};

const issuedTo = async (session: DeviceSession, deviceId: string): Promise<IssuedIdentity> => {
  const outcome = await requestCertificate(session, deviceId);
  if (outcome.kind !== "accepted") throw new Error(`request refused: ${JSON.stringify(outcome)}`);
  return outcome;
};

const shown = async (deviceId: string) => {
  const result = await world.cli(["device", "show", deviceId, "--json"]);
  if (result.code !== 0) throw new Error(`device show exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout);
};

describe("certificate rotation with real devices", () => {
  it("an operator asks, the device takes the job, rotates, commits over its new certificate, and loses the old one", async () => {
    const { device, session } = await provisioned("asked");

    const asked = await world.cli([
      "device",
      "rotate",
      device.deviceId,
      "--commit-within",
      "300",
      "--grace",
      "2",
      "--reason",
      "yearly rotation",
      "--json",
    ]);
    expect(asked.code, asked.stderr).toBe(0);
    const job = await takeNextJob(session, device.deviceId);
    expect(job.document).toMatchObject({ operation: ROTATION_JOB_OPERATION });

    const issued = await issuedTo(session, device.deviceId);
    // The overlap: both certificates are the device's, both can connect.
    expect(await shown(device.deviceId)).toMatchObject({
      certificate: { certificateId: device.certificateId, status: "ACTIVE" },
      rotationCertificate: { role: "new", certificateId: issued.certificateId, status: "ACTIVE" },
      device: { rotation: { state: "ISSUED" } },
    });

    const fresh = await connected(issued.identity);
    const commit = await commitRotation(fresh, device.deviceId, { rotationId: issued.rotationId });
    expect(commit.kind).toBe("accepted");
    // INACTIVE for the grace period, which is 2 s here: it may have ended already.
    expect(["INACTIVE", "REVOKED"]).toContain(await world.certificateStatus(device.certificateId));
    expect((await finishJob(fresh, device.deviceId, job, true)).accepted).toBe(true);

    expect((await connect(device.identity)).kind).not.toBe("accepted");
    // After the grace period the worker revokes it for good; the new certificate stays the device's.
    await eventually(
      () => world.certificateStatus(device.certificateId),
      (status) => status === "REVOKED",
      { timeoutMs: 60_000, what: "the replaced certificate REVOKED" },
    );
    expect((await connected(issued.identity)).isConnected()).toBe(true);
    const after = await shown(device.deviceId);
    expect(after).toMatchObject({
      certificate: { certificateId: issued.certificateId, status: "ACTIVE" },
      device: { state: "ACTIVE", rotation: { state: "COMPLETED" } },
    });
    const history = await world.history(device.deviceId);
    expect(history).toEqual([
      "PROVISIONING_STARTED",
      "ACTIVATED",
      "ROTATION_REQUESTED",
      "CERTIFICATE_ISSUED",
      "ROTATION_COMMITTED",
      "ROTATION_COMPLETED",
    ]);
    const actors = (after.history as { type: string; actor: string }[]).map((e) => `${e.type} by ${e.actor}`);
    expect(actors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ROTATION_REQUESTED by arn:aws:iam::/),
        "CERTIFICATE_ISSUED by device",
        "ROTATION_COMMITTED by device",
        "ROTATION_COMPLETED by rotation-timer",
      ]),
    );
  });

  it("a device that never commits keeps working on its old certificate, and the new one is revoked", async () => {
    const { device, session } = await provisioned("silent");
    // A short window for this device; the deployment's is an hour.
    expect((await world.cli(["device", "rotate", device.deviceId, "--commit-within", "10"])).code).toBe(0);

    const issued = await issuedTo(session, device.deviceId);

    await eventually(
      () => world.certificateStatus(issued.certificateId),
      (status) => status === "REVOKED",
      { timeoutMs: 60_000, what: "the uncommitted certificate REVOKED" },
    );
    expect(await world.certificateStatus(device.certificateId)).toBe("ACTIVE");
    expect((await connect(issued.identity)).kind).not.toBe("accepted");
    expect((await connected(device.identity)).isConnected()).toBe(true);
    expect((await world.history(device.deviceId)).slice(-2)).toEqual([
      "CERTIFICATE_ISSUED",
      "ROTATION_ROLLED_BACK",
    ]);
  });

  it("a commit over the old certificate's connection is ignored, and a request over a certificate not current is refused", async () => {
    const { device, session } = await provisioned("careful");
    // The device asks on its own: no job, the deployment's windows.
    const issued = await issuedTo(session, device.deviceId);

    const overOld = await commitRotation(session, device.deviceId);
    expect(overOld).toMatchObject({ kind: "rejected", code: "COMMIT_NOT_OVER_NEW_CERTIFICATE" });
    expect(await world.certificateStatus(device.certificateId)).toBe("ACTIVE");
    expect((await world.deviceRecord(device.deviceId))?.rotation).toMatchObject({ state: "ISSUED" });

    const fresh = await connected(issued.identity);
    const overNew = await requestCertificate(fresh, device.deviceId);
    expect(overNew).toMatchObject({ kind: "rejected", code: "NOT_CURRENT_CERTIFICATE" });

    expect((await commitRotation(fresh, device.deviceId)).kind).toBe("accepted");
    expect(await world.certificateStatus(device.certificateId)).toBe("INACTIVE");
    expect(await world.history(device.deviceId)).toEqual([
      "PROVISIONING_STARTED",
      "ACTIVATED",
      "CERTIFICATE_ISSUED",
      "ROTATION_REJECTED",
      "ROTATION_REJECTED",
      "ROTATION_COMMITTED",
    ]);
  });

  it("a commit window longer than a queue can delay is parked in the table, and the worker's scheduled sweep queues its timer once it comes within reach", async () => {
    const { device, session } = await provisioned("parked");
    // 905 s: just beyond the 15 minutes an SQS message can be delayed.
    expect((await world.cli(["device", "rotate", device.deviceId, "--commit-within", "905"])).code).toBe(0);
    await issuedTo(session, device.deviceId);
    const parked = async () =>
      (
        await world.db.send(
          new QueryCommand({
            TableName: world.stack.stack.outputs.DevicesTableName ?? "",
            KeyConditionExpression: "pk = :timers",
            ExpressionAttributeValues: { ":timers": "ROTATION_TIMERS" },
          }),
        )
      ).Items?.filter((item) => String(item.sk).includes(`#${device.deviceId}#`)) ?? [];
    expect(await parked()).toHaveLength(1);

    // A few seconds on, the deadline is within 15 minutes: the sweep queues it and unparks it.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const swept = await world.invoke(
      world.stack.stack.outputs.RotationWorkerFunctionName ?? "",
      SCHEDULED_EVENT,
    );
    expect(swept.FunctionError, Buffer.from(swept.Payload ?? []).toString()).toBeUndefined();
    expect(await parked()).toEqual([]);
    expect((await world.deviceRecord(device.deviceId))?.rotation).toMatchObject({ state: "ISSUED" });
  });

  it("a campaign over a batch tells each device through a job; its status shows each device's progress", async () => {
    const lot = await Promise.all(["lot-a", "lot-b"].map((name) => world.device(world.id(name))));
    const batchId = await world.registerBatch(`deviceId\n${lot.map((d) => d.deviceId).join("\n")}\n`);
    const online: DeviceSession[] = [];
    for (const device of lot) {
      const result = await connectWithRetries(device.identity, world.stack.mqtt, { maxAttempts: 12 });
      if (!result.session) throw new Error(`${device.deviceId} not accepted`);
      sessions.push(result.session);
      online.push(result.session);
    }

    const started = await world.cli(["rotation", "campaign", "--batch", batchId, "--grace", "2", "--json"]);
    expect(started.code, started.stderr).toBe(0);
    const { campaign } = JSON.parse(started.stdout) as { campaign: { campaignId: string } };

    await Promise.all(
      lot.map(async (device, i) => {
        const session = online[i] as DeviceSession;
        const job = await takeNextJob(session, device.deviceId);
        expect(job.document).toMatchObject({ campaignId: campaign.campaignId });
        const issued = await issuedTo(session, device.deviceId);
        const fresh = await connected(issued.identity);
        expect((await commitRotation(fresh, device.deviceId)).kind).toBe("accepted");
        await finishJob(fresh, device.deviceId, job, true);
      }),
    );

    const status = await eventually(
      async () => JSON.parse((await world.cli(["rotation", "status", campaign.campaignId, "--json"])).stdout),
      (view) =>
        view.state === "DONE" &&
        view.devices?.length === 2 &&
        view.devices.every((d: { rotation: string }) => d.rotation === "COMPLETED"),
      { timeoutMs: 60_000, what: "both devices' rotations COMPLETED" },
    );
    expect(status.campaign).toMatchObject({ requested: 2, skipped: 0, pagesDone: 1 });
    // COMPLETED is recorded before the revocation (a redelivered timer finishes it), so the
    // revocation may land a moment after the status says so.
    for (const device of lot)
      await eventually(
        () => world.certificateStatus(device.certificateId),
        (certificateStatus) => certificateStatus === "REVOKED",
        { timeoutMs: 60_000, what: `${device.deviceId}'s replaced certificate REVOKED` },
      );
  });
});
