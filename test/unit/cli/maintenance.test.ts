import { afterEach, describe, expect, it, vi } from "vitest";
import { EXIT } from "#cli/failures.js";
import { type LocalServer, localServer, type Received, type Reply } from "./local-server.js";
import { awsEnvironment, runProcessCli, STATIC_KEYS } from "./real-cli.js";

/** fleetgate reconcile and fleetgate expiring against an API on loopback, as a process runs them. */
let server: LocalServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.unstubAllEnvs();
});

const against = async (reply: (request: Received) => Reply, ...argv: string[]) => {
  awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1" } });
  server = await localServer(reply);
  return runProcessCli([...argv, "--api-url", server.url]);
};

const CERT = "ab".repeat(32);
const stolen = {
  kind: "REVOKED_DEVICE_CERTIFICATE_ACTIVE",
  security: true,
  repairable: true,
  deviceId: "stolen-1",
  state: "REVOKED",
  certificateId: CERT,
  certificateStatus: "ACTIVE",
  detail: `device stolen-1 is REVOKED but certificate ${CERT}, its own, is ACTIVE`,
  action: "Revoke the certificate.",
};
const stranger = {
  kind: "THING_WITHOUT_RECORD",
  security: false,
  repairable: false,
  deviceId: "stranger",
  detail: "Thing stranger is in the devices' group with no certificate, and no device record names it",
  action: "Find where Thing stranger came from.",
};

describe("fleetgate reconcile", () => {
  it("calls again with the cursor until the pass is done, and prints every drift with what it proposes", async () => {
    const run = await against((request) => {
      const body = JSON.parse(request.body) as { cursor?: string };
      return body.cursor === undefined
        ? { status: 200, body: { drifts: [stolen], unchecked: [], examined: 50, cursor: "next" } }
        : {
            status: 200,
            body: {
              drifts: [stranger],
              unchecked: [{ deviceId: "d-9", why: "DescribeCertificate: timeout" }],
              examined: 12,
            },
          };
    }, "reconcile");

    expect(run.code).toBe(EXIT.ok);
    expect(server?.received.map((r) => [r.method, r.path, JSON.parse(r.body)])).toEqual([
      ["POST", "/reconcile", { limit: 50, repair: false }],
      ["POST", "/reconcile", { limit: 50, repair: false, cursor: "next" }],
    ]);
    expect(run.stdout.trimEnd().split("\n")).toEqual([
      `SECURITY REVOKED_DEVICE_CERTIFICATE_ACTIVE  stolen-1 (REVOKED)  certificate ${CERT}`,
      `  found     device stolen-1 is REVOKED but certificate ${CERT}, its own, is ACTIVE`,
      "  proposed  Revoke the certificate.",
      "THING_WITHOUT_RECORD  stranger (no record)",
      "  found     Thing stranger is in the devices' group with no certificate, and no device record names it",
      "  proposed  Find where Thing stranger came from.",
      "NOT CHECKED  d-9: DescribeCertificate: timeout (a read failed: nothing decided)",
      "2 drifts (1 security) in 62 records and Things examined, 1 not checked",
      "fleetgate reconcile --repair revokes the 1 ACTIVE certificates of revoked devices",
    ]);
  });

  it("asks for repairs with --repair and shows what each did", async () => {
    const run = await against(
      () => ({
        status: 200,
        body: {
          drifts: [{ ...stolen, repair: { outcome: "REVOKED", detail: `certificate ${CERT} revoked` } }],
          unchecked: [],
          examined: 3,
        },
      }),
      "reconcile",
      "--repair",
      "--limit",
      "20",
    );

    expect(JSON.parse(server?.received[0]?.body ?? "")).toEqual({ limit: 20, repair: true });
    expect(run.stdout).toContain(`  repair    REVOKED: certificate ${CERT} revoked`);
    expect(run.stdout).toContain("1 drifts (1 security) in 3 records and Things examined, 1 repaired");
  });

  it("checks one device with --device", async () => {
    const run = await against(
      () => ({ status: 200, body: { drifts: [], unchecked: [], examined: 1 } }),
      "reconcile",
      "--device",
      "sensor-7",
      "--repair",
    );

    expect(JSON.parse(server?.received[0]?.body ?? "")).toEqual({ deviceId: "sensor-7", repair: true });
    expect(run.stdout).toBe("no drift: 1 records and Things examined\n");
  });

  it("prints the whole pass as one JSON document with --json", async () => {
    const run = await against(
      (request) =>
        JSON.parse(request.body).cursor
          ? { status: 200, body: { drifts: [stranger], unchecked: [], examined: 1 } }
          : { status: 200, body: { drifts: [stolen], unchecked: [], examined: 2, cursor: "c2" } },
      "reconcile",
      "--json",
    );

    expect(JSON.parse(run.stdout)).toEqual({ drifts: [stolen, stranger], unchecked: [], examined: 3 });
  });

  it("stops at the first refused call, with its exit code", async () => {
    const run = await against(
      () => ({ status: 400, body: { title: "invalid body", detail: "body.limit: too big" } }),
      "reconcile",
      "--limit",
      "999",
    );

    expect(run.code).toBe(EXIT.invalid);
    expect(run.stderr).toContain("400 invalid body: body.limit: too big");
  });
});

describe("fleetgate expiring", () => {
  it("asks for both horizons, goes through every page, and lists devices soonest first, then the CAs", async () => {
    const run = await against(
      (request) =>
        request.path.includes("cursor=")
          ? {
              status: 200,
              body: {
                deviceDays: 10,
                caDays: 90,
                devices: [
                  {
                    deviceId: "d-2",
                    state: "ACTIVE",
                    certificateId: "c2",
                    notAfter: "2026-11-26T00:00:00.000Z",
                    daysLeft: 0,
                  },
                ],
                examined: 3,
              },
            }
          : {
              status: 200,
              body: {
                deviceDays: 10,
                caDays: 90,
                devices: [
                  {
                    deviceId: "d-1",
                    state: "SUSPENDED",
                    certificateId: "c1",
                    notAfter: "2026-12-01T00:00:00.000Z",
                    daysLeft: 5,
                  },
                ],
                cas: [
                  {
                    caCertificateId: "ca1",
                    status: "ACTIVE",
                    notAfter: "2027-01-01T00:00:00.000Z",
                    daysLeft: 36,
                  },
                ],
                examined: 1000,
                cursor: "more",
              },
            },
      "expiring",
      "--days",
      "10",
    );

    expect(run.code).toBe(EXIT.ok);
    expect(server?.received.map((r) => r.path)).toEqual([
      "/certificates/expiring?days=10&caDays=90",
      "/certificates/expiring?days=10&caDays=90&cursor=more",
    ]);
    expect(run.stdout.trimEnd().split("\n")).toEqual([
      "device certificates expiring within 10 days (or expired): 2 of 1003 devices that may connect",
      "deviceId  state      notAfter                  daysLeft  certificateId",
      "d-2       ACTIVE     2026-11-26T00:00:00.000Z  0         c2",
      "d-1       SUSPENDED  2026-12-01T00:00:00.000Z  5         c1",
      "CA certificates expiring within 90 days (or expired): 1",
      "caCertificateId  status  notAfter                  daysLeft",
      "ca1              ACTIVE  2027-01-01T00:00:00.000Z  36",
    ]);
  });

  it("says when nothing expires", async () => {
    const run = await against(
      () => ({ status: 200, body: { deviceDays: 30, caDays: 90, devices: [], cas: [], examined: 4 } }),
      "expiring",
    );

    expect(run.stdout).toBe(
      "device certificates expiring within 30 days (or expired): 0 of 4 devices that may connect\nCA certificates expiring within 90 days (or expired): 0\n",
    );
  });
});
