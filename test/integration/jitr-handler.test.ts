import {
  DescribeCertificateCommand,
  DescribeThingCommand,
  ListAttachedPoliciesCommand,
  ListThingGroupsForThingCommand,
  ListThingPrincipalsCommand,
  UpdateCACertificateCommand,
} from "@aws-sdk/client-iot";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { DeviceOptions } from "#local/dev-pki.js";
import { CLIENT_AUTH, SERVER_AUTH } from "#local/dev-pki.js";
import { type JitrMessage, sqsEvent } from "#local/iot-simulator.js";
import { createMotoWorld, injectFailure, type MotoWorld } from "#test/support/moto-world.js";

let world: MotoWorld;
let handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
let clients: typeof import("#adapters/aws-clients.js");
let store: ReturnType<typeof import("#adapters/wiring.js").lifecycleStore>;

const context = {
  functionName: "jitr",
  awsRequestId: "test",
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

beforeAll(async () => {
  world = await createMotoWorld(inject("motoEndpoint"));
  ({ handler } = await import("#functions/jitr.js"));
  clients = await import("#adapters/aws-clients.js");
  store = (await import("#adapters/wiring.js")).lifecycleStore({ DEVICES_TABLE: world.tableName });
});

const deliver = (...bodies: (object | string)[]) => handler(sqsEvent(bodies), context);

const certificateStatus = async (certificateId: string) =>
  (await world.iot.send(new DescribeCertificateCommand({ certificateId }))).certificateDescription?.status;

const thingExists = async (thingName: string) =>
  world.iot.send(new DescribeThingCommand({ thingName })).then(
    () => true,
    () => false,
  );

const expectProvisioned = async (
  deviceId: string,
  message: JitrMessage,
  history = ["PROVISIONING_STARTED", "ACTIVATED"],
) => {
  expect(await certificateStatus(message.certificateId)).toBe("ACTIVE");
  const principals = await world.iot.send(new ListThingPrincipalsCommand({ thingName: deviceId }));
  expect(principals.principals).toEqual([
    expect.stringMatching(new RegExp(`:cert/${message.certificateId}$`)),
  ]);
  // The device policy comes from the group; nothing is attached to the certificate itself.
  const groups = await world.iot.send(new ListThingGroupsForThingCommand({ thingName: deviceId }));
  expect(groups.thingGroups?.map((g) => g.groupName)).toEqual([world.thingGroupName]);
  const policies = await world.iot.send(
    new ListAttachedPoliciesCommand({ target: principals.principals?.[0] ?? "" }),
  );
  expect(policies.policies).toEqual([]);
  const device = await store.getDevice(deviceId as never);
  expect(device).toMatchObject({ state: "ACTIVE", certificate: { certificateId: message.certificateId } });
  const events = await store.listEvents(deviceId as never);
  expect(events.map((e) => e.type)).toEqual(history);
};

const expectWaiting = async (message: JitrMessage, code: string, deviceId?: string) => {
  expect(await certificateStatus(message.certificateId)).toBe("PENDING_ACTIVATION");
  const state = await store.readProvisioningState(message.certificateId as never, undefined);
  expect(state.record).toMatchObject({ outcome: "WAITING", refusal: { code } });
  if (deviceId) expect(await thingExists(deviceId)).toBe(false);
};

const expectRefused = async (message: JitrMessage, code: string, deviceId?: string) => {
  expect(await certificateStatus(message.certificateId)).toBe("REVOKED");
  const state = await store.readProvisioningState(message.certificateId as never, undefined);
  expect(state.record).toMatchObject({ outcome: "REJECTED", refusal: { code } });
  if (deviceId) expect(await thingExists(deviceId)).toBe(false);
};

describe("JITR handler: first connection", () => {
  it("provisions an allowed device: Thing with batch attributes in the devices' group, exclusive attachment, ACTIVE", async () => {
    const deviceId = world.id("ok-1");
    const batchId = await world.allow(`deviceId,model,attr.color\n${deviceId},m1,red\n`);
    const message = await world.connect({ deviceId });

    expect(await deliver(message)).toEqual({ batchItemFailures: [] });

    await expectProvisioned(deviceId, message);
    const thing = await world.iot.send(new DescribeThingCommand({ thingName: deviceId }));
    expect(thing.attributes).toEqual({ color: "red", batch: batchId, model: "m1" });
  });

  it("accepts the JITR message with its timestamps as strings or numbers", async () => {
    const deviceId = world.id("ts-1");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });
    const stringly = {
      ...message,
      timestamp: String(message.timestamp),
      certificateRegistrationTimestamp: 1764000000000,
    };
    expect(await deliver(stringly)).toEqual({ batchItemFailures: [] });
    await expectProvisioned(deviceId, message);
  });
});

describe("JITR handler: every refusal is revoked and recorded with its reason", () => {
  const cases: [string, DeviceOptions | ((id: string) => DeviceOptions), boolean][] = [
    [
      "CERTIFICATE_EXPIRED",
      { notBefore: new Date(Date.now() - 9e8), notAfter: new Date(Date.now() - 6e4) },
      true,
    ],
    ["CERTIFICATE_NOT_YET_VALID", { notBefore: new Date(Date.now() + 36e5) }, true],
    ["KEY_WEAK", { key: { type: "RSA", bits: 1024 } }, true],
    ["KEY_ALGORITHM_UNSUPPORTED", { key: { type: "Ed25519" } }, true],
    ["CERTIFICATE_IS_CA", { isCa: true }, true],
    ["CLIENT_AUTH_NOT_ALLOWED", { extendedKeyUsages: [SERVER_AUTH] }, true],
    ["DEVICE_ID_MISSING", (id) => ({ subject: `O=${id}` }), true],
    ["DEVICE_ID_AMBIGUOUS", (id) => ({ subject: `CN=${id}, CN=${id}-twin` }), true],
    ["DEVICE_ID_INVALID", (id) => ({ subject: `CN=${id}/+` }), true],
  ];

  it.each(cases)("%s", async (code, options, allow) => {
    const deviceId = world.id(`r-${code.toLowerCase()}`);
    if (allow) await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({
      deviceId,
      ...(typeof options === "function" ? options(deviceId) : options),
    });

    expect(await deliver(message)).toEqual({ batchItemFailures: [] });

    await expectRefused(message, code, deviceId);
    if (allow) expect((await store.getDevice(deviceId as never))?.state).toBe("ALLOWED");
  });

  it("SIGNATURE_INVALID: a certificate registered under our CA but signed by an impostor with the CA's name", async () => {
    const deviceId = world.id("forged");
    await world.allow(`deviceId\n${deviceId}\n`);
    const { createCa } = await import("#local/dev-pki.js");
    const impostor = await createCa({ name: world.ca.certificate.subjectName.getField("CN")[0] });
    const message = await world.connect(
      { deviceId },
      { ca: impostor, caCertificateId: world.caCertificateId },
    );

    await deliver(message);

    await expectRefused(message, "SIGNATURE_INVALID", deviceId);
  });

  it("PIN_MISMATCH: the manifest pinned another key", async () => {
    const deviceId = world.id("pinned");
    await world.allow(`deviceId,publicKeySha256\n${deviceId},${"0".repeat(64)}\n`);
    const message = await world.connect({ deviceId });
    await deliver(message);
    await expectRefused(message, "PIN_MISMATCH", deviceId);
  });

  it("IDENTITY_ALREADY_CLAIMED: a clone is revoked and the first device stays ACTIVE", async () => {
    const deviceId = world.id("cloned");
    await world.allow(`deviceId\n${deviceId}\n`);
    const original = await world.connect({ deviceId, extendedKeyUsages: [CLIENT_AUTH] });
    await deliver(original);
    const clone = await world.connect({ deviceId });

    await deliver(clone);

    await expectRefused(clone, "IDENTITY_ALREADY_CLAIMED");
    await expectProvisioned(deviceId, original, ["PROVISIONING_STARTED", "ACTIVATED", "CLONE_REFUSED"]);
  });
});

describe("JITR handler: early devices wait, our failures revoke nothing", () => {
  it("NOT_ON_ALLOWLIST: a device that connects before its manifest waits, and is provisioned on a connect after it lands", async () => {
    const deviceId = world.id("early");
    const message = await world.connect({ deviceId });

    expect(await deliver(message)).toEqual({ batchItemFailures: [] });
    await expectWaiting(message, "NOT_ON_ALLOWLIST", deviceId);

    await world.allow(`deviceId\n${deviceId}\n`);
    expect(await deliver(message)).toEqual({ batchItemFailures: [] });
    await expectProvisioned(deviceId, message, ["CERTIFICATE_WAITING", "PROVISIONING_STARTED", "ACTIVATED"]);
  });

  it("CA_NOT_BATCH_CA: another product line's CA provisions nothing of this line, and revokes nothing", async () => {
    const deviceId = world.id("cross-line");
    await world.allow(`deviceId\n${deviceId}\n`);
    const other = await world.anotherCa("Other line");
    const message = await world.connect({ deviceId }, other);

    await deliver(message);

    await expectWaiting(message, "CA_NOT_BATCH_CA", deviceId);
    expect((await store.getDevice(deviceId as never))?.state).toBe("ALLOWED");
  });

  it("CA_NOT_ACTIVE: nothing is provisioned under a deactivated CA, and nothing revoked", async () => {
    const inactive = await world.anotherCa("Retired line");
    await world.iot.send(
      new UpdateCACertificateCommand({ certificateId: inactive.caCertificateId, newStatus: "INACTIVE" }),
    );
    const deviceId = world.id("retired");
    await world.allow(`deviceId\n${deviceId}\n`, inactive.caCertificateId);
    const message = await world.connect({ deviceId }, inactive);

    await deliver(message);

    await expectWaiting(message, "CA_NOT_ACTIVE", deviceId);
  });

  it("an event naming a CA IoT Core does not know fails the record for a retry, revoking nothing", async () => {
    const deviceId = world.id("unknown-ca");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });
    const response = await deliver({ ...message, caCertificateId: "f".repeat(64) });
    expect(response.batchItemFailures).toHaveLength(1);
    expect(await certificateStatus(message.certificateId)).toBe("PENDING_ACTIVATION");
  });
});

describe("JITR handler: exactly once", () => {
  it("the same event twice in one batch and again later: one Thing, one attachment, one activation", async () => {
    const deviceId = world.id("twice");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });

    expect(await deliver(message, message)).toEqual({ batchItemFailures: [] });
    expect(await deliver(message)).toEqual({ batchItemFailures: [] });

    await expectProvisioned(deviceId, message);
  });

  it("drops a malformed message with a reason and still processes the rest of its batch", async () => {
    const deviceId = world.id("neighbour");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });

    const response = await deliver("{not json", { certificateId: "xyz" }, message);

    expect(response).toEqual({ batchItemFailures: [] });
    await expectProvisioned(deviceId, message);
  });

  it("answers a throttled call with a new slot of the IoT budget: the same delivery provisions, nothing fails", async () => {
    const deviceId = world.id("throttled");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });
    const throttle = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    const stop = injectFailure(clients.iotClient(), {
      command: "UpdateCertificateCommand",
      mode: "instead",
      error: () => throttle,
    });

    const first = await handler(sqsEvent([message]), context);
    stop();

    expect(first).toEqual({ batchItemFailures: [] });
    await expectProvisioned(deviceId, message);
  });

  const steps: [string, "iot" | "dynamodb"][] = [
    ["DescribeCertificateCommand", "iot"],
    ["DescribeCACertificateCommand", "iot"],
    ["BatchGetItemCommand", "dynamodb"],
    ["TransactWriteItemsCommand", "dynamodb"],
    ["CreateThingCommand", "iot"],
    ["AddThingToThingGroupCommand", "iot"],
    ["AttachThingPrincipalCommand", "iot"],
    ["UpdateCertificateCommand", "iot"],
  ];

  it.each(steps)("a crash right after %s is finished by the redelivery, once", async (command, service) => {
    const deviceId = world.id(`crash-${command.replace("Command", "").toLowerCase()}`);
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });
    const client = service === "iot" ? clients.iotClient() : clients.documentClient();
    const stop = injectFailure(client, { command, mode: "after" });

    const event = sqsEvent([message]);
    const first = await handler(event, context);
    stop();
    const second = await deliver(message);

    if (command !== "DescribeCACertificateCommand") {
      // Called once per container (cached): the crash may already be behind us.
      expect(first.batchItemFailures).toHaveLength(1);
    }
    expect(second).toEqual({ batchItemFailures: [] });
    await expectProvisioned(deviceId, message);
  });

  it("an access denied on a step (a grant missing from our role) revokes nothing; once granted, the retry provisions", async () => {
    const deviceId = world.id("denied");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });
    const denied = Object.assign(new Error("not authorized to perform iot:AttachThingPrincipal"), {
      name: "AccessDeniedException",
    });
    const stop = injectFailure(clients.iotClient(), {
      command: "AttachThingPrincipalCommand",
      mode: "instead",
      error: () => denied,
    });

    const first = await deliver(message);
    stop();

    expect(first.batchItemFailures).toHaveLength(1);
    expect(await certificateStatus(message.certificateId)).toBe("PENDING_ACTIVATION");
    expect((await store.getDevice(deviceId as never))?.state).toBe("PROVISIONING");
    expect(await deliver(message)).toEqual({ batchItemFailures: [] });
    await expectProvisioned(deviceId, message);
  });

  it("a crash after the final record leaves nothing to redo", async () => {
    const deviceId = world.id("crash-commit");
    await world.allow(`deviceId\n${deviceId}\n`);
    const message = await world.connect({ deviceId });
    // The claim is the first transaction, the activation the second.
    const stop = injectFailure(clients.documentClient(), {
      command: "TransactWriteItemsCommand",
      mode: "after",
      nth: 2,
    });
    const first = await deliver(message);
    stop();
    expect(first.batchItemFailures).toHaveLength(1);
    expect(await deliver(message)).toEqual({ batchItemFailures: [] });
    await expectProvisioned(deviceId, message);
  });
});
