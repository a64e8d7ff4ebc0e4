import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { ClaimDeps } from "#app/claims.js";
import type { IssuedCertificate } from "#app/ports.js";
import { EXIT, runCli } from "#cli/program.js";
import type { BatchId, CaCertificateId, CertificateId } from "#domain/ids.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { InMemoryFleetStore } from "#test/support/in-memory-fleet.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

/** fleetgate claim create|revoke|list over in-memory IoT Core and table, as an operator runs them. */
const POLICY = "fleetgate-dev-claim";
let table: InMemoryLifecycleStore;
let fleet: InMemoryFleetStore;
let statuses: Map<string, CertificateStatus>;
let attached: Set<string>;
let calls: string[];
let out: string[];
let err: string[];
let issued = 0;

const deps = (): ClaimDeps => ({
  issuer: {
    async createCertificate(csrPem) {
      issued += 1;
      const certificateId = issued.toString(16).padStart(64, "c") as CertificateId;
      calls.push(csrPem ? "CreateCertificateFromCsr" : "CreateKeysAndCertificate");
      statuses.set(certificateId, "INACTIVE");
      const certificate: IssuedCertificate = {
        certificateId,
        certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
        certificatePem: `-----BEGIN CERTIFICATE-----\n${certificateId}\n-----END CERTIFICATE-----\n`,
        ...(csrPem
          ? {}
          : { privateKeyPem: "-----BEGIN RSA PRIVATE KEY-----\nsecret\n-----END RSA PRIVATE KEY-----\n" }),
      };
      return certificate;
    },
  },
  policies: {
    async attachPolicy(policyName, target) {
      calls.push("AttachPolicy");
      attached.add(`${policyName}|${target}`);
    },
    async detachPolicy(policyName, target) {
      calls.push("DetachPolicy");
      attached.delete(`${policyName}|${target}`);
    },
  },
  registry: {
    async updateCertificateStatus(certificateId, status) {
      calls.push(`UpdateCertificate ${status}`);
      statuses.set(certificateId, status);
    },
  },
  claims: fleet,
  batches: table,
  clock: { now: () => new Date("2026-11-25T12:00:00.000Z") },
  claimPolicyName: POLICY,
});

const dir = () => mkdtempSync(join(tmpdir(), "fleetgate-claims-"));
const run = (...argv: string[]) =>
  runCli([...argv, "--region", "eu-west-1"], {
    devices: { api: () => async () => ({ status: 500, body: {} }), out: (text) => out.push(text) },
    deps: () => Promise.reject(new Error("no table")),
    claims: async () => ({ deps: deps(), templateName: "fleetgate-dev-fleet" }),
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    actor: "cli:test",
  });

beforeEach(async () => {
  table = new InMemoryLifecycleStore();
  fleet = new InMemoryFleetStore(table);
  statuses = new Map();
  attached = new Set();
  calls = [];
  out = [];
  err = [];
  for (const batchId of ["lot-a", "lot-b"])
    await table.createBatch({
      batchId: batchId as BatchId,
      caCertificateId: "a".repeat(64) as CaCertificateId,
      manifestSha256: "d".repeat(64),
      source: "test",
      state: "REGISTERED",
      registeredBy: "test",
      registeredAt: "2026-11-01T00:00:00.000Z",
      updatedAt: "2026-11-01T00:00:00.000Z",
    });
});

describe("fleetgate claim create", () => {
  it("makes the certificate INACTIVE, attaches the claim policy, binds it to its batches, and activates it last", async () => {
    const out_ = dir();
    expect(
      await run("claim", "create", "--batch", "lot-a", "--batch", "lot-b", "--out", out_, "--json"),
    ).toBe(EXIT.ok);

    const answer = JSON.parse(out.join(""));
    expect(answer).toMatchObject({
      batchIds: ["lot-a", "lot-b"],
      createdBy: "cli:test",
      templateName: "fleetgate-dev-fleet",
    });
    expect(answer).not.toHaveProperty("privateKeyPem");
    expect(calls).toEqual(["CreateKeysAndCertificate", "AttachPolicy", "UpdateCertificate ACTIVE"]);
    expect(await fleet.getClaim(answer.claimCertificateId)).toMatchObject({ batchIds: ["lot-a", "lot-b"] });
    expect(attached).toEqual(new Set([`${POLICY}|${answer.certificateArn}`]));
    expect(readFileSync(answer.files.certificate, "utf8")).toContain(answer.claimCertificateId);
    expect(statSync(answer.files.privateKey).mode & 0o777).toBe(0o600);
  });

  it("signs the operator's CSR instead, and writes no key", async () => {
    const out_ = dir();
    const csr = join(out_, "claim.csr");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(csr, "-----BEGIN CERTIFICATE REQUEST-----\n...\n-----END CERTIFICATE REQUEST-----\n");

    expect(await run("claim", "create", "--batch", "lot-a", "--csr", csr, "--out", out_, "--json")).toBe(
      EXIT.ok,
    );

    expect(calls[0]).toBe("CreateCertificateFromCsr");
    expect(JSON.parse(out.join("")).files).not.toHaveProperty("privateKey");
  });

  it("refuses a batch that is not registered, before IoT Core makes anything", async () => {
    expect(await run("claim", "create", "--batch", "lot-a", "--batch", "lot-z")).toBe(EXIT.invalid);
    expect(err.join("\n")).toContain("no batch lot-z: register its manifest first");
    expect(calls).toEqual([]);
  });
});

describe("fleetgate claim revoke and list", () => {
  it("revokes the binding, then the certificate, then detaches the policy; again changes nothing more", async () => {
    await run("claim", "create", "--batch", "lot-a", "--out", dir(), "--json");
    const { claimCertificateId, certificateArn } = JSON.parse(out.join(""));
    calls = [];

    expect(await run("claim", "revoke", claimCertificateId, "--reason", "factory closed")).toBe(EXIT.ok);
    expect(await fleet.getClaim(claimCertificateId)).toMatchObject({
      revoked: { by: "cli:test", reason: "factory closed" },
    });
    expect(statuses.get(claimCertificateId)).toBe("REVOKED");
    expect(attached.has(`${POLICY}|${certificateArn}`)).toBe(false);
    expect(calls).toEqual(["UpdateCertificate REVOKED", "DetachPolicy"]);

    expect(await run("claim", "revoke", claimCertificateId, "--reason", "again")).toBe(EXIT.ok);
    expect((await fleet.getClaim(claimCertificateId))?.revoked?.reason).toBe("factory closed");
  });

  it("says a claim it does not know is not found, and an id that is not one is bad input", async () => {
    expect(await run("claim", "revoke", "ab".repeat(32), "--reason", "x")).toBe(EXIT.notFound);
    expect(await run("claim", "revoke", "nope", "--reason", "x")).toBe(EXIT.invalid);
  });

  it("lists claims newest first, revoked ones marked, and none in words", async () => {
    expect(await run("claim", "list")).toBe(EXIT.ok);
    expect(out).toEqual(["no claims"]);
    out = [];
    await run("claim", "create", "--batch", "lot-a", "--out", dir());
    out = [];
    expect(await run("claim", "list")).toBe(EXIT.ok);
    expect(out.join("\n")).toMatch(
      /claimCertificateId\s+batches\s+createdAt\s+revoked\n.*lot-a\s+2026-11-25/,
    );
  });
});
