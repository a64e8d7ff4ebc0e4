import { beforeEach, describe, expect, it } from "vitest";
import { preRegisterCertificates } from "#app/pre-register.js";
import { provisionCertificate } from "#app/provision-certificate.js";
import { type BatchDeps, registerBatch } from "#app/register-batch.js";
import { certificateIdOf } from "#domain/certificate.js";
import type { Device } from "#domain/device.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { DEFAULT_MANIFEST_RULES, validateManifestRecord } from "#domain/manifest.js";
import { issueDeviceCertificate } from "#local/dev-pki.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";
import { createProvisioningWorld } from "#test/support/provisioning-world.js";

const CA = "a".repeat(64) as CaCertificateId;
const OTHER_CA = "b".repeat(64) as CaCertificateId;
const HELD = "c".repeat(64) as CertificateId;
const NEW = "d".repeat(64);
const DAY = 86_400_000;
let store: InMemoryLifecycleStore;
let deps: BatchDeps;

beforeEach(() => {
  store = new InMemoryLifecycleStore();
  const registry = new FakeRegistry();
  for (const id of [CA, OTHER_CA])
    registry.cas.set(id, { caCertificateId: id, status: "ACTIVE", pem: "", autoRegistration: "ENABLE" });
  deps = {
    store,
    clock: { now: () => new Date("2026-11-25T10:00:00Z") },
    manifestRules: DEFAULT_MANIFEST_RULES,
    caRegistry: registry,
    approvalLimits: { defaultMs: 7 * DAY, maxMs: 30 * DAY },
  };
});

/** A device provisioned with the certificate HELD, of the CA given. */
const provisioned = (deviceId: string, caCertificateId: CaCertificateId = CA): Device => {
  const device: Device = {
    deviceId: deviceId as DeviceId,
    state: "ACTIVE",
    batchId: "first-lot" as BatchId,
    caCertificateId,
    attributes: {},
    pins: {},
    certificate: {
      certificateId: HELD,
      certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${HELD}`,
      certificateSha256: HELD,
      publicKeySha256: "2".repeat(64),
      notBefore: "2026-01-01T00:00:00.000Z",
      notAfter: "2027-01-01T00:00:00.000Z",
    },
    version: 3,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
  };
  store.devices.set(deviceId, device);
  return device;
};

const register = (manifest: string) =>
  registerBatch(deps, {
    open: () => [Buffer.from(manifest)],
    caCertificateId: CA,
    batchId: "refurbished-1",
    actor: "factory-7",
    source: "test",
  });

describe("a manifest row that names a provisioned identity with a new pin (replacesCertificateSha256)", () => {
  it("approves the new certificate to replace the held one, with the registrant as approver, and adds no entry", async () => {
    provisioned("sensor-1");

    const result = await register(
      `deviceId,certificateSha256,replacesCertificateSha256\nsensor-1,${NEW},${HELD}\n`,
    );

    expect(result.batch).toMatchObject({
      state: "REGISTERED",
      counts: { rows: 1, accepted: 1, conflicts: 0 },
    });
    expect(store.approvals.get("sensor-1")).toEqual({
      deviceId: "sensor-1",
      certificateSha256: NEW,
      replaces: HELD,
      approvedBy: "factory-7",
      approvedAt: "2026-11-25T10:00:00.000Z",
      expiresAt: "2026-12-02T10:00:00.000Z",
      reason: "manifest of batch refurbished-1, line 2",
    });
    expect(store.devices.get("sensor-1")).toMatchObject({ batchId: "first-lot", version: 3 });
    expect(store.events.at(-1)).toMatchObject({ type: "REPLACEMENT_APPROVED", actor: "factory-7" });
  });

  it("is a conflict, approving nothing, when the device holds another certificate, is of another CA, is not provisioned, or is unknown", async () => {
    provisioned("holds-other");
    provisioned("other-ca", OTHER_CA);
    store.devices.set("never-connected", {
      ...provisioned("never-connected"),
      state: "ALLOWED",
      certificate: undefined,
    } as Device);
    const other = "e".repeat(64);

    const result = await register(
      [
        "deviceId,certificateSha256,replacesCertificateSha256",
        `holds-other,${NEW},${other}`,
        `other-ca,${NEW},${HELD}`,
        `never-connected,${NEW},${HELD}`,
        `unknown,${NEW},${HELD}`,
      ].join("\n"),
    );

    expect(result.batch).toMatchObject({ state: "FAILED", counts: { rows: 4, accepted: 0, conflicts: 4 } });
    expect(result.issues.map((issue) => [issue.line, issue.kind, issue.message])).toEqual([
      [2, "conflict", `device holds-other holds certificate ${HELD}, not ${other}`],
      [3, "conflict", `device other-ca is of CA ${OTHER_CA}: its replacement must come from the same CA`],
      [
        4,
        "conflict",
        expect.stringMatching(/^cannot approve a replacement certificate for a device that is ALLOWED/),
      ],
      [5, "conflict", "device unknown does not exist"],
    ]);
    expect(store.approvals.size).toBe(0);
    expect(store.devices.has("unknown")).toBe(false);
  });
});

describe("a replacement row is read strictly", () => {
  const row = (fields: Record<string, string>) =>
    validateManifestRecord({ deviceId: "sensor-1", ...fields }, 2, DEFAULT_MANIFEST_RULES);

  it("carries what it replaces (colons and case as tools print fingerprints)", () => {
    const printed = HELD.toUpperCase().match(/../g)?.join(":") ?? "";
    expect(row({ certificateSha256: NEW, replacesCertificateSha256: printed })).toMatchObject({
      ok: true,
      row: { deviceId: "sensor-1", replaces: HELD, pins: { certificateSha256: NEW } },
    });
  });

  it.each([
    [{ replacesCertificateSha256: HELD }, "needs the replacement's certificateSha256"],
    [{ certificateSha256: HELD, replacesCertificateSha256: HELD }, "is the replacement's own certificate"],
    [{ certificateSha256: NEW, replacesCertificateSha256: HELD, model: "m2" }, "the device keeps its own"],
    [
      { certificateSha256: NEW, replacesCertificateSha256: HELD, "attr.color": "red" },
      "the device keeps its own",
    ],
    [
      { certificateSha256: NEW, replacesCertificateSha256: HELD, publicKeySha256: NEW },
      "the device keeps its own",
    ],
    [{ certificateSha256: NEW, replacesCertificateSha256: "not-a-fingerprint" }, "must be a SHA-256 in hex"],
  ])("%j is refused: %s", (fields, message) => {
    const result = row(fields);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem.message).toContain(message);
  });
});

describe("a replacement row of an uploaded manifest that brings the certificate", () => {
  it("pre-registers it, and it takes the identity over at once: the old certificate is revoked", async () => {
    const now = () => new Date("2026-11-25T10:00:00Z");
    const world = await createProvisioningWorld(now);
    world.allow("sensor-9");
    const first = await world.connect({ deviceId: "sensor-9" });
    await provisionCertificate(world.deps, first);
    const next = await issueDeviceCertificate(world.ca, { deviceId: "sensor-9" });
    const line = JSON.stringify({
      deviceId: "sensor-9",
      certificatePem: next.pem,
      replacesCertificateSha256: first.certificateId,
    });

    const result = await registerBatch(
      {
        store: world.store,
        clock: { now },
        manifestRules: DEFAULT_MANIFEST_RULES,
        caRegistry: world.registry,
        approvalLimits: { defaultMs: 7 * DAY, maxMs: 30 * DAY },
      },
      {
        open: () => [Buffer.from(`${line}\n`)],
        caCertificateId: world.caCertificateId,
        actor: "factory-7",
        source: "upload",
        preRegister: (ca, certificates) => preRegisterCertificates(world.deps, ca, certificates),
      },
    );

    expect(result.batch.counts).toMatchObject({ accepted: 1, certificates: { registered: 1, refused: 0 } });
    const replacement = certificateIdOf(next.pem);
    expect(world.store.devices.get("sensor-9")?.certificate?.certificateId).toBe(replacement);
    expect(world.registry.certificates.get(replacement)?.status).toBe("ACTIVE");
    expect(world.registry.certificates.get(first.certificateId)?.status).toBe("REVOKED");
    expect(world.store.events.filter((e) => e.deviceId === "sensor-9").map((e) => [e.type, e.actor])).toEqual(
      [
        ["PROVISIONING_STARTED", "jitr"],
        ["ACTIVATED", "jitr"],
        ["REPLACEMENT_APPROVED", "factory-7"],
        ["CERTIFICATE_REPLACED", "manifest"],
      ],
    );
  });
});
