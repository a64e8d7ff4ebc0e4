import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificateIdOf } from "#domain/certificate.js";
import { issueDeviceCertificate } from "#local/dev-pki.js";
import { connectOnce, type DeviceSession } from "#local/device.js";
import { createE2eWorld, type E2eWorld } from "#test/support/e2e-world.js";

/**
 * A manifest uploaded through a presigned URL (signed with the operations function's role) lands in
 * the manifest bucket, whose notification invokes the ingest function under its own role.
 */
let world: E2eWorld;
const sessions: DeviceSession[] = [];

beforeAll(async () => {
  world = await createE2eWorld("upload");
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end()));
});

describe("an uploaded manifest", () => {
  it("reaches the ingest function through the bucket's notification; its pre-registered devices connect at once", async () => {
    const devices = await Promise.all(
      ["u-1", "u-2"].map(async (name) => {
        const deviceId = world.id(name);
        const certificate = await issueDeviceCertificate(world.ca, { deviceId });
        return { deviceId, certificate };
      }),
    );
    const path = join(tmpdir(), `${world.id("manifest")}.jsonl`);
    writeFileSync(
      path,
      devices
        .map((d) => JSON.stringify({ deviceId: d.deviceId, certificatePem: d.certificate.pem }))
        .join("\n"),
    );

    const result = await world.cli([
      "batch",
      "register",
      path,
      "--ca",
      world.caCertificateId,
      "--upload",
      "--json",
    ]);

    expect(result.code, `${result.stderr}${result.stdout}`).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      state: "REGISTERED",
      source: expect.stringMatching(/^s3:\/\//),
      counts: { accepted: 2 },
    });
    for (const { deviceId, certificate } of devices) {
      expect(await world.certificateStatus(certificateIdOf(certificate.pem))).toBe("ACTIVE");
      const { exportPrivateKeyPem } = await import("#local/dev-pki.js");
      const outcome = await connectOnce(
        {
          clientId: deviceId,
          certificateChainPem: `${certificate.pem}\n${world.ca.pem}\n`,
          privateKeyPem: await exportPrivateKeyPem(certificate.keys.privateKey),
        },
        world.stack.mqtt,
      );
      // Pre-registered: accepted on the very first CONNECT, no JITR round trip.
      expect(outcome.kind).toBe("accepted");
      if (outcome.kind === "accepted") sessions.push(outcome.session);
    }
  });
});
