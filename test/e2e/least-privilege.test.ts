import { DeleteRolePolicyCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectWithRetries, type DeviceSession } from "#local/device.js";
import { localClientConfig } from "#local/ministack.js";
import { createE2eWorld, type E2eWorld, eventually } from "#test/support/e2e-world.js";

/**
 * The functions run under their own roles, with IAM evaluated on every call. A grant taken away
 * from a role is a failure of ours: it must never cost a device its certificate.
 */
let world: E2eWorld;
let iam: IAMClient;
const sessions: DeviceSession[] = [];

beforeAll(async () => {
  world = await createE2eWorld("iam");
  iam = new IAMClient(localClientConfig(world.stack.aws));
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

describe("a grant missing from the JITR function's role", () => {
  it("fails provisioning without revoking: the device stays pending, and is provisioned on its first connect once the grant is back", async () => {
    const device = await world.device(world.id("denied"));
    await world.registerBatch(`deviceId\n${device.deviceId}\n`);
    const role = world.stack.stack.resources.JitrRole ?? "";
    // Denied for this device's Thing only, so the other tests' devices are not affected.
    const denial = {
      RoleName: role,
      PolicyName: `deny-${device.deviceId}`,
      PolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Deny",
            Action: "iot:AttachThingPrincipal",
            Resource: `arn:aws:iot:${world.stack.aws.region}:${world.stack.aws.accountId}:thing/${device.deviceId}`,
          },
        ],
      }),
    };
    await iam.send(new PutRolePolicyCommand(denial));

    const denied = await connectWithRetries(device.identity, world.stack.mqtt, { maxAttempts: 4 });

    expect(denied.session).toBeUndefined();
    await eventually(
      () => world.deviceRecord(device.deviceId),
      (record) => record?.state === "PROVISIONING",
      { what: "the claim kept" },
    );
    expect(await world.certificateStatus(device.certificateId)).toBe("PENDING_ACTIVATION");
    expect(await world.certificateRecord(device.certificateId)).toMatchObject({ outcome: "ASSIGNED" });

    await iam.send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: denial.PolicyName }));
    const granted = await connectWithRetries(device.identity, world.stack.mqtt);

    expect(granted.session).toBeDefined();
    if (granted.session) sessions.push(granted.session);
    await world.untilActive(device.deviceId);
    expect(await world.certificateStatus(device.certificateId)).toBe("ACTIVE");
    expect(await world.history(device.deviceId)).toEqual(["PROVISIONING_STARTED", "ACTIVATED"]);
  });
});
