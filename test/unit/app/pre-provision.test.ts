import { beforeEach, describe, expect, it } from "vitest";
import type { PreProvisioningDeps, ProvisioningRequest } from "#app/pre-provision.js";
import { preProvision } from "#app/pre-provision.js";
import { certificateIdOf } from "#domain/certificate.js";
import type { Device } from "#domain/device.js";
import { DependencyUnavailableError, NotFoundError } from "#domain/errors.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { createCa, issueDeviceCertificate } from "#local/dev-pki.js";
import { InMemoryFleetStore } from "#test/support/in-memory-fleet.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

const CLAIM = "e".repeat(64) as CertificateId;
const HOUR = 3_600_000;
// IoT Core's own CA stands for Amazon's: the hook never verifies a fleet certificate's issuer.
const amazon = await createCa({ name: "Amazon-like CA" });

let now: Date;
let table: InMemoryLifecycleStore;
let fleet: InMemoryFleetStore;
let statuses: Map<string, CertificateStatus>;
let deps: PreProvisioningDeps;

beforeEach(async () => {
  now = new Date("2026-11-25T12:00:00.000Z");
  table = new InMemoryLifecycleStore();
  fleet = new InMemoryFleetStore(table);
  statuses = new Map();
  deps = {
    fleet,
    store: table,
    registry: {
      describeCertificate: async (certificateId) => {
        const status = statuses.get(certificateId);
        if (!status) throw new NotFoundError(`no certificate ${certificateId}`);
        return { certificateId, certificateArn: `arn:${certificateId}`, status, pem: "" };
      },
    },
    clock: { now: () => now },
    certificatePolicy: { clockSkewMs: 300_000 },
    reservationMs: HOUR,
    budgetMs: 2_000,
  };
  await fleet.bindClaim({
    claimCertificateId: CLAIM,
    certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${CLAIM}`,
    batchIds: ["lot-a" as BatchId],
    createdAt: "2026-11-01T00:00:00.000Z",
    createdBy: "factory",
  });
});

const allow = (deviceId: string, overrides: Partial<Device> = {}) =>
  table.addDevices([
    {
      deviceId: deviceId as DeviceId,
      state: "ALLOWED",
      batchId: "lot-a" as BatchId,
      caCertificateId: "a".repeat(64) as CaCertificateId,
      model: "m1",
      attributes: {},
      pins: {},
      version: 1,
      createdAt: "2026-11-01T00:00:00.000Z",
      updatedAt: "2026-11-01T00:00:00.000Z",
      ...overrides,
    },
  ]);

/** What IoT Core asks after the device's CreateKeysAndCertificate (or its CSR) and RegisterThing. */
const request = async (
  parameters: Record<string, string>,
  options: Parameters<typeof issueDeviceCertificate>[1] = {},
): Promise<ProvisioningRequest> => {
  const { pem } = await issueDeviceCertificate(amazon, { subject: "CN=AWS IoT Certificate", ...options });
  const certificateId = certificateIdOf(pem) as CertificateId;
  return {
    claimCertificateId: CLAIM,
    certificateId,
    certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
    certificatePem: pem,
    parameters,
  };
};

const history = (deviceId: string) => table.events.filter((e) => e.deviceId === deviceId).map((e) => e.type);

describe("preProvision: allowing", () => {
  it("reserves a listed identity of the claim's batch for the new certificate until the ownership token expires, and sets batch and model from the entry", async () => {
    await allow("fp-1");
    const asked = await request({ DeviceId: "fp-1", BatchId: "lot-z", Model: "forged" });

    const outcome = await preProvision(deps, asked);

    expect(outcome).toEqual({
      kind: "allowed",
      certificateId: asked.certificateId,
      deviceId: "fp-1",
      parameterOverrides: { DeviceId: "fp-1", BatchId: "lot-a", Model: "m1" },
      again: false,
    });
    expect(table.devices.get("fp-1")).toMatchObject({
      state: "PROVISIONING",
      certificate: { certificateId: asked.certificateId, reservedUntil: "2026-11-25T13:00:00.000Z" },
    });
    expect(table.certificates.get(asked.certificateId)).toMatchObject({
      outcome: "ASSIGNED",
      deviceId: "fp-1",
    });
    expect(history("fp-1")).toEqual(["PROVISIONING_STARTED"]);
  });

  it("allows the same certificate again without a second reservation (IoT Core retried)", async () => {
    await allow("fp-2");
    const asked = await request({ DeviceId: "fp-2" });
    await preProvision(deps, asked);

    expect(await preProvision(deps, asked)).toMatchObject({ kind: "allowed", again: true });
    expect(history("fp-2")).toEqual(["PROVISIONING_STARTED"]);
  });
});

describe("preProvision: denying, recorded with why", () => {
  it.each<[string, () => Promise<unknown>, Record<string, string>, string]>([
    ["an identity no batch lists", async () => undefined, { DeviceId: "fp-stranger" }, "NOT_ON_ALLOWLIST"],
    [
      "a device of a batch the claim is not bound to",
      () => allow("fp-other", { batchId: "lot-b" as BatchId }),
      { DeviceId: "fp-other" },
      "CLAIM_NOT_FOR_BATCH",
    ],
    [
      "a revoked identity",
      () => allow("fp-revoked", { state: "REVOKED" }),
      { DeviceId: "fp-revoked" },
      "ALLOWLIST_ENTRY_NOT_ALLOWED",
    ],
  ])(
    "denies %s, in the certificate's record and the device's history",
    async (_, arrange, parameters, code) => {
      await arrange();
      const asked = await request(parameters);

      const outcome = await preProvision(deps, asked);

      expect(outcome).toMatchObject({ kind: "denied", refusal: { code }, recorded: true });
      expect(table.certificates.get(asked.certificateId)).toMatchObject({
        outcome: "REJECTED",
        refusal: { code },
      });
      expect(history(parameters.DeviceId ?? "")).toEqual(["CERTIFICATE_REFUSED"]);
    },
  );

  it("denies a second device claiming a reserved identity as a clone, and raises it; the first keeps it", async () => {
    await allow("fp-cloned");
    const first = await request({ DeviceId: "fp-cloned" });
    await preProvision(deps, first);

    const outcome = await preProvision(deps, await request({ DeviceId: "fp-cloned" }));

    expect(outcome).toMatchObject({
      kind: "denied",
      refusal: { code: "IDENTITY_ALREADY_CLAIMED" },
      security: true,
    });
    expect(history("fp-cloned")).toEqual(["PROVISIONING_STARTED", "CLONE_REFUSED"]);
    expect(table.devices.get("fp-cloned")?.certificate?.certificateId).toBe(first.certificateId);
  });

  it("denies a claim fleetgate did not issue or revoked, and a request without a valid device id", async () => {
    await allow("fp-3");
    const stranger = {
      ...(await request({ DeviceId: "fp-3" })),
      claimCertificateId: "f".repeat(64) as CertificateId,
    };
    expect(await preProvision(deps, stranger)).toMatchObject({ refusal: { code: "CLAIM_NOT_RECOGNISED" } });
    await fleet.revokeClaim(CLAIM, { at: now.toISOString(), by: "ops", reason: "leaked" });
    expect(await preProvision(deps, await request({ DeviceId: "fp-3" }))).toMatchObject({
      refusal: { code: "CLAIM_NOT_RECOGNISED" },
    });
    expect(await preProvision(deps, await request({ DeviceId: "a/b" }))).toMatchObject({
      refusal: { code: "PROVISIONING_PARAMETERS_INVALID" },
    });
    expect(await preProvision(deps, await request({}))).toMatchObject({
      refusal: { code: "PROVISIONING_PARAMETERS_INVALID", detail: "no DeviceId parameter" },
    });
    expect(table.devices.get("fp-3")?.state).toBe("ALLOWED");
  });

  it("applies the crypto policy to a certificate made from the device's CSR, and the manifest's key pin", async () => {
    await allow("fp-weak");
    expect(
      await preProvision(deps, await request({ DeviceId: "fp-weak" }, { key: { type: "RSA", bits: 1024 } })),
    ).toMatchObject({
      refusal: { code: "KEY_WEAK" },
    });
    await allow("fp-pinned", { pins: { publicKeySha256: "9".repeat(64) } });
    expect(await preProvision(deps, await request({ DeviceId: "fp-pinned" }))).toMatchObject({
      refusal: { code: "PIN_MISMATCH" },
      security: true,
    });
  });
});

describe("preProvision: an expired reservation", () => {
  const expire = async (deviceId: string, holderStatus: CertificateStatus | undefined) => {
    await allow(deviceId);
    const first = await request({ DeviceId: deviceId });
    await preProvision(deps, first);
    if (holderStatus) statuses.set(first.certificateId, holderStatus);
    now = new Date(now.getTime() + HOUR + 1);
    return first;
  };

  it("is given back on the next claim when IoT Core never activated its certificate, and reserved anew", async () => {
    const first = await expire("fp-late", undefined);
    const second = await request({ DeviceId: "fp-late" });

    expect(await preProvision(deps, second)).toMatchObject({
      kind: "allowed",
      released: first.certificateId,
    });
    expect(table.devices.get("fp-late")?.certificate?.certificateId).toBe(second.certificateId);
    expect(table.certificates.get(first.certificateId)).toMatchObject({
      outcome: "REJECTED",
      refusal: { code: "RESERVATION_EXPIRED" },
    });
    expect(history("fp-late")).toEqual([
      "PROVISIONING_STARTED",
      "RESERVATION_EXPIRED",
      "PROVISIONING_STARTED",
    ]);
  });

  it("still holds the identity when IoT Core activated its certificate: the newcomer is a clone", async () => {
    await expire("fp-quiet", "ACTIVE");
    expect(await preProvision(deps, await request({ DeviceId: "fp-quiet" }))).toMatchObject({
      refusal: { code: "IDENTITY_ALREADY_CLAIMED" },
    });
  });
});

describe("preProvision: failing closed", () => {
  it("denies when a dependency is slower than the budget, and says so in the device's history", async () => {
    await allow("fp-slow");
    const slow = {
      ...deps,
      budgetMs: 50,
      fleet: { readFleetState: () => new Promise<never>(() => undefined) },
    };

    const started = Date.now();
    const outcome = await preProvision(slow, await request({ DeviceId: "fp-slow" }));

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(outcome).toMatchObject({ kind: "unavailable", deviceId: "fp-slow", recorded: true });
    expect(outcome.kind === "unavailable" && outcome.why).toMatch(/deadline \(50 ms\)/);
    expect(history("fp-slow")).toEqual(["PROVISIONING_UNAVAILABLE"]);
    expect(table.devices.get("fp-slow")?.state).toBe("ALLOWED");
  });

  it("denies on a failure of ours (an outage), reserving nothing and revoking nothing", async () => {
    await allow("fp-outage");
    const failing = {
      ...deps,
      fleet: { readFleetState: () => Promise.reject(new DependencyUnavailableError("DynamoDB is down")) },
    };

    const outcome = await preProvision(failing, await request({ DeviceId: "fp-outage" }));

    expect(outcome).toMatchObject({
      kind: "unavailable",
      why: "DependencyUnavailableError: DynamoDB is down",
    });
    expect(table.devices.get("fp-outage")?.state).toBe("ALLOWED");
  });

  it("still answers, unrecorded, when the table cannot even take the record", async () => {
    const down = () => Promise.reject(new DependencyUnavailableError("down"));
    const broken = {
      ...deps,
      fleet: { readFleetState: down },
      store: { ...table, recordEvent: down, recordRefusal: down, claim: down, release: down },
    };
    expect(await preProvision(broken, await request({ DeviceId: "fp-dark" }))).toMatchObject({
      kind: "unavailable",
      recorded: false,
    });
  });
});
