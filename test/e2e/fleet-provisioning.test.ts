import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeThingCommand, ListThingGroupsForThingCommand } from "@aws-sdk/client-iot";
import {
  GetFunctionConfigurationCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
} from "@aws-sdk/client-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectOnce, connectWithRetries, type DeviceSession } from "#local/device.js";
import { type ClaimCredentials, deviceCsr, provisionByClaim } from "#local/fleet-device.js";
import { localClientConfig } from "#local/ministack.js";
import { createE2eWorld, type E2eWorld, eventually, FLEET_ONLY } from "#test/support/e2e-world.js";

/**
 * Fleet provisioning end to end on the deployed stack: a claim made with the CLI, real devices
 * over mutual TLS asking IoT Core for their certificate (its key, or their own CSR), the template
 * applied once the deployed hook allows them from the allowlist, and their first connection with
 * the new certificate confirming the reservation through the presence rule and its queue.
 */
let world: E2eWorld;
let claim: ClaimCredentials & { readonly claimCertificateId: string };
let templateName: string;
let listed: string[];
let otherBatchDevice: string;
let lineA: string;
let pinned: { deviceId: string; csr: Awaited<ReturnType<typeof deviceCsr>> };
const sessions: DeviceSession[] = [];
const files = mkdtempSync(join(tmpdir(), "fleetgate-fleet-e2e-"));

beforeAll(async () => {
  world = await createE2eWorld("fleet");
  templateName = world.stack.stack.outputs.FleetProvisioningTemplateName ?? "";
  listed = ["a", "b", "c", "slow"].map((name) => world.id(name));
  pinned = { deviceId: world.id("pinned"), csr: await deviceCsr(`CN=${world.id("pinned")}`) };
  // A line without a CA of its own: its devices are born only through fleet provisioning.
  lineA = await world.registerBatch(
    `deviceId,model,publicKeySha256\n${listed.map((id) => `${id},thermo-2,`).join("\n")}\n${pinned.deviceId},thermo-2,${pinned.csr.publicKeySha256}\n`,
    FLEET_ONLY,
  );
  otherBatchDevice = world.id("other-line");
  await world.registerBatch(`deviceId\n${otherBatchDevice}\n`);

  const made = await world.cli([
    "claim",
    "create",
    "--batch",
    lineA,
    "--out",
    files,
    "--stage",
    "local",
    "--json",
  ]);
  if (made.code !== 0) throw new Error(`claim create exited ${made.code}: ${made.stderr}${made.stdout}`);
  const answer = JSON.parse(made.stdout) as {
    claimCertificateId: string;
    files: { certificate: string; privateKey: string };
  };
  claim = {
    claimCertificateId: answer.claimCertificateId,
    certificatePem: readFileSync(answer.files.certificate, "utf8"),
    privateKeyPem: readFileSync(answer.files.privateKey, "utf8"),
  };
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

const provision = (deviceId: string, ownKey?: { csrPem: string; privateKeyPem: string }) =>
  provisionByClaim(claim, world.stack.mqtt, {
    templateName,
    // What firmware sends; the hook sets batch and model from the allowlist whatever it says.
    parameters: { DeviceId: deviceId, Model: "forged" },
    ...(ownKey ? { ownKey } : {}),
  });

const connectAs = async (deviceId: string, certificatePem: string, privateKeyPem: string) => {
  const result = await connectWithRetries(
    { clientId: deviceId, certificateChainPem: certificatePem, privateKeyPem },
    world.stack.mqtt,
    { maxAttempts: 3 },
  );
  if (result.session) sessions.push(result.session);
  return result;
};

describe("a device with a claim", () => {
  it("belongs to a line registered without a CA (--fleet-only): fleet provisioning needs none", async () => {
    const shown = await world.cli(["batch", "show", lineA, "--json"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).not.toHaveProperty("caCertificateId");
  });

  it("has IoT Core make its key and certificate, is provisioned as the allowlist says, and publishes as its Thing with its new certificate; its first connection confirms it", async () => {
    const [deviceId = ""] = listed;

    const outcome = await provision(deviceId);

    expect(outcome).toMatchObject({ kind: "provisioned", thingName: deviceId });
    if (outcome.kind !== "provisioned") return;
    expect(await world.deviceRecord(deviceId)).toMatchObject({
      state: "PROVISIONING",
      certificate: { certificateId: outcome.certificateId, reservedUntil: expect.any(String) },
    });
    const thing = await world.iot.send(new DescribeThingCommand({ thingName: deviceId }));
    expect(thing.attributes).toMatchObject({ model: "thermo-2" });
    const groups = await world.iot.send(new ListThingGroupsForThingCommand({ thingName: deviceId }));
    expect(groups.thingGroups?.map((group) => group.groupName)).toEqual(["fleetgate-local-devices"]);

    const { session } = await connectAs(deviceId, outcome.certificatePem, outcome.privateKeyPem);
    expect(session).toBeDefined();
    await session?.publish(`devices/${deviceId}/telemetry`, '{"t":21.5}');

    await eventually(
      () => world.deviceRecord(deviceId),
      (record) => record?.state === "ACTIVE",
      { what: "the reservation confirmed" },
    );
    expect(await world.history(deviceId)).toEqual(["PROVISIONING_STARTED", "ACTIVATED"]);
    expect(await world.certificateStatus(outcome.certificateId)).toBe("ACTIVE");
  });

  it("keeps its key by sending a CSR (create-from-csr); the manifest's key pin is checked on the certificate IoT Core signs", async () => {
    const outcome = await provision(pinned.deviceId, pinned.csr);

    expect(outcome).toMatchObject({ kind: "provisioned", thingName: pinned.deviceId });
    if (outcome.kind !== "provisioned") return;
    expect(outcome.privateKeyPem).toBe(pinned.csr.privateKeyPem);
    const { session } = await connectAs(pinned.deviceId, outcome.certificatePem, outcome.privateKeyPem);
    await session?.publish(`devices/${pinned.deviceId}/telemetry`, "1");
    await eventually(
      () => world.deviceRecord(pinned.deviceId),
      (record) => record?.state === "ACTIVE",
      { what: "the reservation confirmed" },
    );
  });
});

describe("the hook denies, and says why", () => {
  const denied = async (deviceId: string, code: string) => {
    const outcome = await provision(deviceId);
    expect(outcome).toMatchObject({
      kind: "rejected",
      step: "provision",
      statusCode: 403,
      errorCode: "AccessDenied",
    });
    const certificateId = outcome.kind === "rejected" ? (outcome.certificateId ?? "") : "";
    // The hook answers within its budget; a slow table may still be writing the refusal then.
    const record = await eventually(
      () => world.certificateRecord(certificateId),
      (found) => found !== undefined,
      { what: `the ${code} refusal recorded` },
    );
    expect(record).toMatchObject({ outcome: "REJECTED", refusal: { code } });
    // IoT Core applied nothing: the new certificate was never activated.
    expect(await world.certificateStatus(certificateId)).toBe("PENDING_ACTIVATION");
    return certificateId;
  };

  it("an identity no batch lists", async () => {
    const stranger = world.id("stranger");
    await denied(stranger, "NOT_ON_ALLOWLIST");
    expect(await world.history(stranger)).toEqual(["CERTIFICATE_REFUSED"]);
  });

  it("a device of another batch than its claim's", async () => {
    await denied(otherBatchDevice, "CLAIM_NOT_FOR_BATCH");
    expect(await world.deviceRecord(otherBatchDevice)).toMatchObject({ state: "ALLOWED" });
  });

  it("a second device claiming a provisioned identity: a clone; the first device keeps connecting", async () => {
    const deviceId = listed[1] ?? "";
    const first = await provision(deviceId);
    if (first.kind !== "provisioned") throw new Error(JSON.stringify(first));

    await denied(deviceId, "IDENTITY_ALREADY_CLAIMED");

    expect(await world.history(deviceId)).toEqual(["PROVISIONING_STARTED", "CLONE_REFUSED"]);
    expect((await connectAs(deviceId, first.certificatePem, first.privateKeyPem)).session).toBeDefined();
  });
});

describe("the hook fails closed", () => {
  let lambda: LambdaClient;
  let functionName: string;
  let silent: Server;

  beforeAll(async () => {
    lambda = new LambdaClient(localClientConfig(world.stack.aws));
    functionName = world.stack.stack.resources.ProvisioningHookLambdaFunction ?? "";
    // A DynamoDB that accepts connections and never answers: the slowest dependency there is.
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  });

  afterAll(() => {
    silent?.close();
  });

  const hookEnvironment = async (change: (variables: Record<string, string>) => Record<string, string>) => {
    const current = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
    await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: functionName,
        Environment: { Variables: change({ ...(current.Environment?.Variables ?? {}) }) },
      }),
    );
  };

  it("a device whose hook's table does not answer is refused within the hook's budget, long before IoT Core's 5 s; nothing is reserved, and once the table answers the same device provisions", async () => {
    const deviceId = listed[3] ?? "";
    const port = (silent.address() as { port: number }).port;
    await hookEnvironment((variables) => ({
      ...variables,
      AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${port}`,
    }));
    try {
      const started = Date.now();
      const outcome = await provision(deviceId);
      const elapsed = Date.now() - started;

      // The hook's own deny (403), not IoT Core giving up on a silent hook (InvocationError).
      expect(outcome).toMatchObject({ kind: "rejected", step: "provision", errorCode: "AccessDenied" });
      expect(elapsed).toBeLessThan(5_000);
    } finally {
      await hookEnvironment(({ AWS_ENDPOINT_URL_DYNAMODB: _silent, ...variables }) => variables);
    }
    expect(await world.deviceRecord(deviceId)).toMatchObject({ state: "ALLOWED" });

    expect(await provision(deviceId)).toMatchObject({ kind: "provisioned" });
  });
});

describe("a revoked claim", () => {
  it("provisions nothing more: IoT Core refuses its session", async () => {
    const revoked = await world.cli([
      "claim",
      "revoke",
      claim.claimCertificateId,
      "--reason",
      "e2e: factory closed",
      "--stage",
      "local",
      "--json",
    ]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ revoked: { reason: "e2e: factory closed" } });

    const outcome = await connectOnce(
      {
        clientId: "claim.after-revoke",
        certificateChainPem: claim.certificatePem,
        privateKeyPem: claim.privateKeyPem,
      },
      world.stack.mqtt,
    );
    expect(outcome.kind).not.toBe("accepted");
    expect(await provision(listed[2] ?? "")).toMatchObject({ kind: "not-connected" });
  });
});
