import {
  AttachPolicyCommand,
  CreatePolicyCommand,
  DescribeCertificateCommand,
  ListThingPrincipalsCommand,
} from "@aws-sdk/client-iot";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { retirementLedger } from "#adapters/dynamodb/retirement-ledger.js";
import type { CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { connectOnce, connectWithRetries, type DeviceSession } from "#local/device.js";
import {
  createE2eWorld,
  type E2eWorld,
  eventually,
  SCHEDULED_EVENT,
  type TestDevice,
} from "#test/support/e2e-world.js";

/**
 * Planned re-provisioning and clean retirement on the deployed stack: an operator approves a
 * replacement certificate with the CLI (through the deployed API), real devices connect over
 * mutual TLS, the JITR function swaps the certificates under its own role; the retirement
 * function (its own role) deletes what is due from IoT Core, run as its schedule runs it and as
 * an operator runs it now (fleetgate cert retire, with the operator's credentials).
 */
let world: E2eWorld;
const sessions: DeviceSession[] = [];
const table = () => world.stack.stack.outputs.DevicesTableName ?? "";

beforeAll(async () => {
  world = await createE2eWorld("retire");
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

const provisioned = async (name: string): Promise<TestDevice> => {
  const device = await world.device(world.id(name));
  await world.registerBatch(`deviceId\n${device.deviceId}\n`);
  const result = await connectWithRetries(device.identity, world.stack.mqtt);
  if (!result.session) throw new Error(`${device.deviceId} not accepted: ${JSON.stringify(result.attempts)}`);
  sessions.push(result.session);
  await world.untilActive(device.deviceId);
  return device;
};

const connects = async (device: TestDevice, attempts = 1): Promise<DeviceSession | undefined> => {
  const result = await connectWithRetries(device.identity, world.stack.mqtt, { maxAttempts: attempts });
  if (result.session) sessions.push(result.session);
  return result.session;
};

const expectCert = (device: TestDevice, fingerprint: string, ...more: string[]) =>
  world.cli(["device", "expect-cert", device.deviceId, "--sha256", fingerprint, ...more, "--json"]);

/** The colon-separated upper-case fingerprint an operator copies from openssl. */
const printed = (certificateId: string) => certificateId.toUpperCase().match(/../g)?.join(":") ?? "";
/** Waits for the ledger to record `replacement` as the device's certificate: a swap's last step. */
const untilSwapped = (replacement: TestDevice) =>
  eventually(
    () => world.deviceRecord(replacement.deviceId),
    (record) =>
      (record?.certificate as { certificateId?: string } | undefined)?.certificateId ===
      replacement.certificateId,
    { what: "the replacement recorded as the device's certificate" },
  );

// What the certificates of this file became, for the retirement tests below.
let replaced: TestDevice;
let replacement: TestDevice;
let clone: TestDevice;
let lateReplacement: TestDevice;
let lateDevice: TestDevice;

describe("planned re-provisioning", () => {
  it("an approved replacement certificate provisions on its first connection, and the certificate it replaces can no longer connect", async () => {
    replaced = await provisioned("replaced");
    replacement = await world.device(replaced.deviceId);

    const approved = await expectCert(
      replaced,
      printed(replacement.certificateId),
      "--expires-in",
      "2d",
      "--reason",
      "secure element replaced",
    );
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({
      approval: { certificateSha256: replacement.certificateId, replaces: replaced.certificateId },
    });

    const session = await connects(replacement, 12);
    expect(session).toBeDefined();
    await session?.publish(`devices/${replacement.deviceId}/telemetry`, '{"t":20.5}');
    expect(await world.certificateStatus(replacement.certificateId)).toBe("ACTIVE");
    // The new certificate is activated first, the old one revoked, and the swap recorded last: the
    // device may connect in between.
    await untilSwapped(replacement);
    expect(await world.deviceRecord(replaced.deviceId)).toMatchObject({ state: "ACTIVE" });
    expect(await world.certificateStatus(replaced.certificateId)).toBe("REVOKED");
    expect((await connectOnce(replaced.identity, world.stack.mqtt)).kind).not.toBe("accepted");
    expect(await world.history(replaced.deviceId)).toEqual([
      "PROVISIONING_STARTED",
      "ACTIVATED",
      "REPLACEMENT_APPROVED",
      "CERTIFICATE_REPLACED",
    ]);
  });

  it("any other new certificate for the identity is refused as a clone, and the device keeps its own", async () => {
    const device = await provisioned("pending");
    const approvedElsewhere = await world.device(device.deviceId);
    expect((await expectCert(device, approvedElsewhere.certificateId)).code).toBe(0);
    clone = await world.device(device.deviceId);

    expect(await connects(clone, 5)).toBeUndefined();

    await eventually(
      () => world.certificateStatus(clone.certificateId),
      (status) => status === "REVOKED",
      { what: "the clone revoked" },
    );
    expect(await world.certificateRecord(clone.certificateId)).toMatchObject({
      outcome: "REJECTED",
      refusal: { code: "IDENTITY_ALREADY_CLAIMED" },
    });
    expect(await connects(device)).toBeDefined();
  });

  it("an approved certificate whose approval expired is refused as a clone", async () => {
    lateDevice = await provisioned("late");
    lateReplacement = await world.device(lateDevice.deviceId);
    expect((await expectCert(lateDevice, lateReplacement.certificateId, "--expires-in", "1h")).code).toBe(0);
    // As if the hour had passed: the approval's expiry moved back in the table.
    const past = new Date(Date.now() - 60_000).toISOString();
    await world.db.send(
      new UpdateCommand({
        TableName: table(),
        Key: { pk: `DEVICE#${lateDevice.deviceId}`, sk: "APPROVAL" },
        UpdateExpression: "SET expiresAt = :past, gsi1sk = :position",
        ExpressionAttributeValues: { ":past": past, ":position": `${past}#${lateDevice.deviceId}` },
      }),
    );

    expect(await connects(lateReplacement, 5)).toBeUndefined();

    const record = await eventually(
      () => world.certificateRecord(lateReplacement.certificateId),
      (value) => value?.outcome === "REJECTED",
      { what: "the late replacement refused" },
    );
    expect(record).toMatchObject({ refusal: { code: "IDENTITY_ALREADY_CLAIMED" } });
    expect((record?.refusal as { detail?: string } | undefined)?.detail).toMatch(
      /approval of this certificate .* expired/,
    );
    expect(await world.certificateStatus(lateDevice.certificateId)).toBe("ACTIVE");
  });
});

describe("planned re-provisioning by manifest", () => {
  it("a manifest row naming the identity and the new certificate approves it: the device's first connection with it provisions it and revokes the old one", async () => {
    const device = await provisioned("by-manifest");
    const fresh = await world.device(device.deviceId);
    await world.registerBatch(
      `deviceId,certificateSha256,replacesCertificateSha256\n${device.deviceId},${fresh.certificateId},${device.certificateId}\n`,
    );
    expect(await world.history(device.deviceId)).toContain("REPLACEMENT_APPROVED");

    expect(await connects(fresh, 12)).toBeDefined();
    await untilSwapped(fresh);
    expect(await world.deviceRecord(device.deviceId)).toMatchObject({ state: "ACTIVE" });
    expect(await world.certificateStatus(device.certificateId)).toBe("REVOKED");
    expect((await world.history(device.deviceId)).at(-1)).toBe("CERTIFICATE_REPLACED");
  });
});

describe("clean retirement", () => {
  let revoked: TestDevice;
  let drifted: TestDevice;

  const retire = async (...args: string[]) => {
    const result = await world.cli([
      "cert",
      "retire",
      "--retention-days",
      "0",
      "--ca",
      world.caCertificateId,
      "--stage",
      "local",
      "--json",
      ...args,
    ]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as {
      counts: Record<string, number>;
      items: { certificateId: string; outcome: string; detail?: string; detached?: string[] }[];
    };
  };
  const outcomeOf = (run: Awaited<ReturnType<typeof retire>>, device: TestDevice) =>
    run.items.find((item) => item.certificateId === device.certificateId);

  beforeAll(async () => {
    revoked = await provisioned("revoked");
    expect((await world.cli(["device", "revoke", revoked.deviceId, "--reason", "stolen"])).code).toBe(0);
    // A record that says retirable while IoT Core has the certificate ACTIVE (a drift): queued as
    // a faulty caller would queue it.
    drifted = await provisioned("drifted");
    await retirementLedger(world.db, table()).scheduleRetirement({
      certificateId: drifted.certificateId as CertificateId,
      deviceId: drifted.deviceId as DeviceId,
      caCertificateId: world.caCertificateId as CaCertificateId,
      since: new Date(Date.now() - 86_400_000).toISOString(),
      why: "REVOKED",
    });
  });

  it("on its schedule, keeps what is still within its retention (30 days by default)", async () => {
    const out = await world.invoke(
      world.stack.stack.outputs.RetireCertificatesFunctionName ?? "",
      SCHEDULED_EVENT,
    );

    expect(out.FunctionError, Buffer.from(out.Payload ?? []).toString()).toBeUndefined();
    for (const device of [replaced, clone, revoked])
      expect(await world.certificateStatus(device.certificateId)).toBe("REVOKED");
  });

  it("a dry run now names what would be retired and what is left, and changes nothing", async () => {
    const run = await retire("--dry-run");

    for (const device of [replaced, clone, lateReplacement, revoked])
      expect(outcomeOf(run, device)?.outcome, device.deviceId).toBe("WOULD_RETIRE");
    expect(outcomeOf(run, revoked)?.detached).toEqual([revoked.deviceId]);
    expect(outcomeOf(run, drifted)).toMatchObject({
      outcome: "LEFT",
      detail: "ACTIVE in IoT Core: it can connect",
    });
    expect(await world.certificateStatus(revoked.certificateId)).toBe("REVOKED");
  });

  it("run now with retention 0, deletes the replaced, refused and revoked certificates from IoT Core, and never the ACTIVE one", async () => {
    // Someone attached a policy to the clone's certificate: the delete takes it along.
    const policyName = `someone-else-${clone.certificateId.slice(0, 8)}`;
    await world.iot.send(
      new CreatePolicyCommand({
        policyName,
        policyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Deny", Action: "iot:*", Resource: "*" }],
        }),
      }),
    );
    const { certificateDescription } = await world.iot.send(
      new DescribeCertificateCommand({ certificateId: clone.certificateId }),
    );
    await world.iot.send(
      new AttachPolicyCommand({ policyName, target: certificateDescription?.certificateArn }),
    );

    const run = await retire();

    for (const device of [replaced, clone, lateReplacement, revoked]) {
      expect(outcomeOf(run, device)?.outcome, device.deviceId).toBe("RETIRED");
      expect(await world.certificateStatus(device.certificateId)).toBeUndefined();
    }
    expect(outcomeOf(run, revoked)?.detached).toEqual([revoked.deviceId]);
    const principals = await world.iot.send(new ListThingPrincipalsCommand({ thingName: revoked.deviceId }));
    expect(principals.principals ?? []).toEqual([]);

    expect(outcomeOf(run, drifted)).toMatchObject({ outcome: "LEFT" });
    expect(await world.certificateStatus(drifted.certificateId)).toBe("ACTIVE");
    expect(await connects(drifted)).toBeDefined();
    expect(await world.certificateStatus(replacement.certificateId)).toBe("ACTIVE");

    expect((await world.history(replaced.deviceId)).at(-1)).toBe("CERTIFICATE_RETIRED");
    expect(await world.history(revoked.deviceId)).toEqual([
      "PROVISIONING_STARTED",
      "ACTIVATED",
      "REVOKED",
      "CERTIFICATE_RETIRED",
    ]);
    // The expired approval was recorded as such by the same run.
    expect(await world.history(lateDevice.deviceId)).toContain("REPLACEMENT_EXPIRED");
    // fleetgate keeps what it knew: the record stays, saying when it was retired.
    expect(await world.certificateRecord(replaced.certificateId)).toMatchObject({ retireWhy: "REPLACED" });
    expect((await world.certificateRecord(replaced.certificateId))?.retiredAt).toBeDefined();
  });
});
