import { beforeEach, describe, expect, it } from "vitest";
import { ingestUpload } from "#app/ingest-upload.js";
import { DependencyRejectedError, DependencyUnavailableError } from "#domain/errors.js";
import { DEFAULT_MANIFEST_RULES } from "#domain/manifest.js";
import { issueDeviceCertificate } from "#local/dev-pki.js";
import { createProvisioningWorld, idOf, type ProvisioningWorld } from "#test/support/provisioning-world.js";

const NOW = new Date("2026-11-25T10:00:00Z");
let world: ProvisioningWorld;

beforeEach(async () => {
  world = await createProvisioningWorld(() => NOW);
});

const ingest = (
  rows: readonly object[],
  batchId = "lot-2",
  caCertificateId: string = world.caCertificateId,
) =>
  ingestUpload(
    {
      store: world.store,
      clock: { now: () => NOW },
      manifestRules: DEFAULT_MANIFEST_RULES,
      caRegistry: world.registry,
      provisioning: world.deps,
    },
    {
      source: "s3://manifests/lot-2",
      open: async function* () {
        yield Buffer.from(rows.map((row) => JSON.stringify(row)).join("\n"));
      },
      caCertificateId,
      batchId,
      actor: "factory-7",
    },
  );

const certificateFor = async (deviceId: string) => (await issueDeviceCertificate(world.ca, { deviceId })).pem;

/** Rows d-0, d-1… each bringing a certificate of the world's CA. */
const rowsWithCertificates = (count: number) =>
  Promise.all(
    Array.from({ length: count }, async (_, i) => ({
      deviceId: `d-${i}`,
      certificatePem: await certificateFor(`d-${i}`),
    })),
  );

const registered = async (rows: readonly object[]) => {
  const outcome = await ingest(rows);
  if (outcome.kind !== "registered") throw new Error(`refused: ${outcome.batch.error}`);
  return outcome.result;
};

describe("ingestUpload with certificates", () => {
  it("neither registers nor provisions the certificate of a row that conflicts with another batch's entry", async () => {
    world.allow("d-1", { batchId: "lot-1" as never, pins: {} });
    const taken = await certificateFor("d-1");
    const result = await registered([
      { deviceId: "d-1", certificatePem: taken },
      { deviceId: "d-2", certificatePem: await certificateFor("d-2") },
    ]);

    expect(result.batch).toMatchObject({
      state: "PARTIAL",
      counts: { accepted: 1, conflicts: 1, certificates: { registered: 1, refused: 0 } },
      issues: [{ kind: "conflict", line: 1, deviceId: "d-1" }],
    });
    expect(world.store.devices.get("d-1")).toMatchObject({ state: "ALLOWED", batchId: "lot-1" });
    expect(world.store.devices.get("d-1")?.certificate).toBeUndefined();
    expect(world.registry.certificates.has(idOf(taken))).toBe(false);
    expect(world.store.devices.get("d-2")?.state).toBe("ACTIVE");
  });

  it("provisions neither device when a row's certificate names another device", async () => {
    world.allow("d-b", { batchId: "lot-1" as never, pins: {} });
    const result = await registered([{ deviceId: "d-a", certificatePem: await certificateFor("d-b") }]);

    expect(result.batch.state).toBe("FAILED");
    expect(result.issues).toEqual([
      { kind: "invalid", line: 1, deviceId: "d-a", message: "certificatePem names device d-b (CN), not d-a" },
    ]);
    expect(world.store.devices.get("d-b")?.state).toBe("ALLOWED");
    expect(world.registry.calls).not.toContain("registerCertificate");
  });

  it("counts as registered only the certificates whose device became ACTIVE with them", async () => {
    const pem = await certificateFor("d-1");
    world.registry.certificates.set(idOf(pem), {
      pem,
      status: "REVOKED",
      caCertificateId: world.caCertificateId,
    });
    const result = await registered([{ deviceId: "d-1", certificatePem: pem }]);

    expect(result.batch.counts?.certificates).toEqual({ registered: 0, refused: 1 });
    expect(result.issues).toEqual([
      {
        kind: "certificate",
        line: 1,
        deviceId: "d-1",
        message: expect.stringMatching(/not provisioned: certificate is REVOKED/),
      },
    ]);
    expect(world.store.devices.get("d-1")?.state).toBe("ALLOWED");
  });

  it("reports a certificate IoT Core refuses to register by its line, and registers the others", async () => {
    world.registry.failNext(
      "registerCertificate",
      new DependencyRejectedError("CertificateValidationException: not signed by the CA"),
    );
    const result = await registered([
      { deviceId: "d-1", certificatePem: await certificateFor("d-1") },
      { deviceId: "d-2", certificatePem: await certificateFor("d-2") },
    ]);

    expect(result.batch.counts?.certificates).toEqual({ registered: 1, refused: 1 });
    expect(result.issues).toEqual([
      {
        kind: "certificate",
        line: 1,
        deviceId: "d-1",
        message: expect.stringMatching(/IoT Core refused to register it: .*not signed by the CA/),
      },
    ]);
    expect(world.store.devices.get("d-2")?.state).toBe("ACTIVE");
  });

  it("finishes the pre-registration of an interrupted ingest when the manifest comes again", async () => {
    const rows = [{ deviceId: "d-1", certificatePem: await certificateFor("d-1") }];
    world.registry.failNext("registerCertificate", new DependencyUnavailableError("IoT Core outage"));
    await expect(ingest(rows)).rejects.toThrow("IoT Core outage");
    expect(world.store.batches.get("lot-2")?.state).toBe("RECEIVED");

    const result = await registered(rows);

    expect(result).toMatchObject({
      replay: false,
      batch: { state: "REGISTERED", counts: { certificates: { registered: 1, refused: 0 } } },
    });
    expect(world.store.devices.get("d-1")?.state).toBe("ACTIVE");
  });
});

describe("ingestUpload pre-registering many certificates", () => {
  it("takes a few at once; after a failure of ours it starts no more, lets those running finish, and fails for a retry that completes them", async () => {
    const rows = await rowsWithCertificates(20);
    const register = world.registry.registerCertificate.bind(world.registry);
    let started = 0;
    let running = 0;
    let most = 0;
    let failOn: number | undefined = 10;
    world.registry.registerCertificate = async (pem, caPem) => {
      started += 1;
      const call = started;
      running += 1;
      most = Math.max(most, running);
      try {
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (call === failOn) throw new DependencyUnavailableError("IoT Core outage");
        return await register(pem, caPem);
      } finally {
        running -= 1;
      }
    };

    await expect(ingest(rows)).rejects.toThrow("IoT Core outage");
    expect(running).toBe(0);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(8);
    expect(started).toBeLessThan(rows.length);
    const active = () => [...world.store.devices.values()].filter((d) => d.state === "ACTIVE").length;
    expect(active()).toBe(started - 1);

    failOn = undefined;
    const result = await registered(rows);
    expect(result.batch.counts?.certificates).toEqual({ registered: 20, refused: 0 });
    expect(active()).toBe(20);
  });

  it("asks IoT Core nothing, when the manifest comes again, about the certificates an interrupted run provisioned", async () => {
    const rows = await rowsWithCertificates(6);
    const register = world.registry.registerCertificate.bind(world.registry);
    const asked: string[] = [];
    let outage = true;
    world.registry.registerCertificate = async (pem, caPem) => {
      asked.push(idOf(pem));
      // The fourth certificate meets an outage: the run stops with three provisioned, at most.
      if (outage && asked.length === 4) throw new DependencyUnavailableError("IoT Core outage");
      return register(pem, caPem);
    };
    await expect(ingest(rows)).rejects.toThrow("IoT Core outage");
    const provisioned = rows
      .map((row) => row.deviceId)
      .filter((id) => world.store.devices.get(id)?.state === "ACTIVE");
    expect(provisioned.length).toBeGreaterThan(0);

    outage = false;
    asked.length = 0;
    const result = await registered(rows);

    expect(result.batch.counts?.certificates).toEqual({ registered: 6, refused: 0 });
    expect(asked).toHaveLength(6 - provisioned.length);
    for (const row of rows.filter((r) => provisioned.includes(r.deviceId)))
      expect(asked).not.toContain(idOf(row.certificatePem));
  });
});

describe("ingestUpload refusals", () => {
  it("refuses, rather than fails for a retry, an upload naming another CA than its batch's", async () => {
    const rows = [{ deviceId: "d-1" }];
    await registered(rows);
    const other = "b".repeat(64);
    world.registry.cas.set(other, { caCertificateId: other as never, status: "ACTIVE", pem: "" });

    const outcome = await ingest(rows, "lot-2", other);

    expect(outcome).toMatchObject({
      kind: "refused",
      batch: {
        error: expect.stringMatching(/^batch lot-2 was registered under CA [0-9a-f]{64}, not CA b{64}/),
      },
    });
    expect(world.store.batches.get("lot-2")?.caCertificateId).toBe(world.caCertificateId);
  });
});
