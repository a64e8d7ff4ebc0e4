import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeThingCommand, ListThingPrincipalsCommand } from "@aws-sdk/client-iot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa, exportPrivateKeyPem, type Issuer } from "#local/dev-pki.js";
import { connectOnce, connectWithRetries, type DeviceSession } from "#local/device.js";
import { createE2eWorld, type E2eWorld, eventually } from "#test/support/e2e-world.js";

/**
 * JITP on the deployed stack: a CA registered with `fleetgate ca register --jitp`, IoT Core applying
 * fleetgate's template on a device's first connect (the Thing made, the certificate INACTIVE), and
 * fleetgate deciding as for JITR from the registered event or the Thing-created event.
 */
let world: E2eWorld;
let ca: Issuer;
let caCertificateId: string;
const sessions: DeviceSession[] = [];

beforeAll(async () => {
  world = await createE2eWorld("jitp");
  ca = await createCa({ name: `jitp line ${randomUUID().slice(0, 8)}` });
  const files = mkdtempSync(join(tmpdir(), "fleetgate-jitp-"));
  writeFileSync(join(files, "ca.pem"), ca.pem);
  writeFileSync(join(files, "ca.key"), await exportPrivateKeyPem(ca.keys.privateKey));
  const template = world.stack.stack.outputs.JitpTemplateName ?? "";
  const result = await world.cli([
    "ca",
    "register",
    join(files, "ca.pem"),
    "--key",
    join(files, "ca.key"),
    "--jitp",
    template,
    "--json",
  ]);
  if (result.code !== 0) throw new Error(`ca register --jitp failed: ${result.stderr}`);
  const view = JSON.parse(result.stdout);
  expect(view).toMatchObject({ jitpTemplate: template, thingEventsTurnedOn: expect.any(Boolean) });
  caCertificateId = view.caCertificateId;
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

const thingOf = async (name: string) => {
  try {
    return await world.iot.send(new DescribeThingCommand({ thingName: name }));
  } catch {
    return undefined;
  }
};

describe("JITP under the allowlist", () => {
  it("a listed device is provisioned from fleetgate's template: its Thing takes its entry's attributes, its history says JITP", async () => {
    const device = await world.device(world.id("listed"), {}, ca);
    await world.registerBatch(`deviceId,model\n${device.deviceId},jitp-1\n`, caCertificateId);

    const result = await connectWithRetries(device.identity, world.stack.mqtt);

    expect(result.session, JSON.stringify(result.attempts)).toBeDefined();
    if (result.session) sessions.push(result.session);
    console.info(
      `JITP: first CONNECT to accepted session in ${result.elapsedMs} ms, ${result.attempts.length} CONNECTs`,
    );
    await world.untilActive(device.deviceId);
    expect((await thingOf(device.deviceId))?.attributes).toMatchObject({
      provisionedBy: "jitp",
      model: "jitp-1",
    });
    const events = await world.history(device.deviceId);
    expect(events).toEqual(["PROVISIONING_STARTED", "ACTIVATED"]);
    // The Thing-created event came too, through its rule, and was decided (nothing left to do).
    await eventually(
      async () => readFileSync(world.stack.aws.logPath, "utf8").split("\n"),
      (lines) =>
        lines.some(
          (line) => line.includes(`"thingName":"${device.deviceId}"`) && line.includes('"message":'),
        ),
      { timeoutMs: 20_000, what: "the JITR function's log line of the Thing-created event" },
    );
  });

  it("an early device waits unrevoked: its registration is undone, and once its batch lands its next connects provision it", async () => {
    const device = await world.device(world.id("early"), {}, ca);
    expect((await connectOnce(device.identity, world.stack.mqtt)).kind).not.toBe("accepted");
    // Sampled until fleetgate undid the registration: the certificate is never ACTIVE meanwhile.
    const statuses = new Set<string | undefined>();
    await eventually(
      async () => {
        const status = await world.certificateStatus(device.certificateId);
        statuses.add(status);
        return { status, thing: await thingOf(device.deviceId) };
      },
      (seen) => seen.status === undefined && seen.thing === undefined,
      { timeoutMs: 30_000, intervalMs: 50, what: "the early device's certificate and Thing deleted" },
    );
    expect(statuses.has("ACTIVE")).toBe(false);
    expect((await world.certificateRecord(device.certificateId))?.outcome).toBe("WAITING");

    await world.registerBatch(`deviceId\n${device.deviceId}\n`, caCertificateId);
    const result = await connectWithRetries(device.identity, world.stack.mqtt);

    expect(result.session, JSON.stringify(result.attempts)).toBeDefined();
    if (result.session) sessions.push(result.session);
    await world.untilActive(device.deviceId);
    expect(await world.history(device.deviceId)).toEqual([
      "CERTIFICATE_WAITING",
      "PROVISIONING_STARTED",
      "ACTIVATED",
    ]);
  });

  it("a clone is revoked and detached from the genuine device's Thing; the genuine device keeps connecting", async () => {
    const genuine = await world.device(world.id("genuine"), {}, ca);
    await world.registerBatch(`deviceId\n${genuine.deviceId}\n`, caCertificateId);
    const first = await connectWithRetries(genuine.identity, world.stack.mqtt);
    if (first.session) sessions.push(first.session);
    await world.untilActive(genuine.deviceId);
    await first.session?.end();
    const clone = await world.device(genuine.deviceId, {}, ca);

    expect((await connectOnce(clone.identity, world.stack.mqtt)).kind).not.toBe("accepted");
    await eventually(
      () => world.certificateStatus(clone.certificateId),
      (status) => status === "REVOKED",
      { timeoutMs: 30_000, what: "the clone's certificate REVOKED" },
    );

    // Revoked first (the clone is refused at once), then detached from the Thing JITP attached it to.
    const principalsOf = async () =>
      (await world.iot.send(new ListThingPrincipalsCommand({ thingName: genuine.deviceId }))).principals?.map(
        (arn) => arn.split("/").pop(),
      );
    await eventually(principalsOf, (principals) => principals?.length === 1, {
      timeoutMs: 30_000,
      what: "the clone's certificate detached from the genuine device's Thing",
    });
    expect(await principalsOf()).toEqual([genuine.certificateId]);
    const again = await connectOnce(genuine.identity, world.stack.mqtt);
    expect(again.kind).toBe("accepted");
    if (again.kind === "accepted") sessions.push(again.session);
    expect(await world.history(genuine.deviceId)).toContain("CLONE_REFUSED");
  });
});
