import { afterEach, describe, expect, it, vi } from "vitest";
import { EXIT } from "#cli/failures.js";
import { type LocalServer, localServer, type Received, type Reply } from "./local-server.js";
import { awsEnvironment, runProcessCli, STATIC_KEYS } from "./real-cli.js";

/** fleetgate device why and fleetgate cert show against an API on loopback, as a process runs them. */
let server: LocalServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  vi.unstubAllEnvs();
});

const CERT = "0f21".padEnd(64, "a");
const OLDER = "9c3e".padEnd(64, "b");

const against = async (reply: (request: Received) => Reply, ...argv: string[]) => {
  awsEnvironment({ env: { ...STATIC_KEYS, AWS_REGION: "eu-west-1" } });
  server = await localServer(reply);
  return runProcessCli([...argv, "--api-url", server.url]);
};

const diagnosis = {
  deviceId: "sensor-7",
  onAllowlist: true,
  state: "ALLOWED",
  batchId: "lot-1",
  attempts: [
    {
      certificateId: CERT,
      at: "2026-11-25T10:00:00.000Z",
      outcome: "REFUSED",
      diagnosis: "CERTIFICATE_EXPIRED: expired on 2026-11-24",
      certificateStatus: "REVOKED",
    },
    {
      certificateId: OLDER,
      at: "2026-11-20T08:00:00.000Z",
      outcome: "WAITING",
      diagnosis: "NOT_ON_ALLOWLIST: device id sensor-7",
      certificateStatus: "PENDING_ACTIVATION",
      waitingSince: "2026-11-19T08:00:00.000Z",
      connects: 4,
    },
  ],
  advice: "The device needs a new certificate from the manufacturing line; this one stays revoked.",
};

describe("fleetgate device why", () => {
  it("asks the API why, and prints the entry, one line per certificate that tried, then the advice", async () => {
    const run = await against(() => ({ status: 200, body: diagnosis }), "device", "why", "sensor-7");

    expect(run.code).toBe(EXIT.ok);
    expect(server?.received.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /devices/sensor-7/why"]);
    expect(run.stdout.trimEnd().split("\n")).toEqual([
      "device sensor-7: ALLOWED, batch lot-1",
      `2026-11-25T10:00:00.000Z  certificate ${CERT}  fleetgate REFUSED  IoT Core REVOKED  CERTIFICATE_EXPIRED: expired on 2026-11-24`,
      `2026-11-20T08:00:00.000Z  certificate ${OLDER}  fleetgate WAITING  IoT Core PENDING_ACTIVATION  NOT_ON_ALLOWLIST: device id sensor-7 (waiting since 2026-11-19T08:00:00.000Z, 4 connects)`,
      "advice: The device needs a new certificate from the manufacturing line; this one stays revoked.",
    ]);
  });

  it("says so for a device on no batch that no certificate has tried to be", async () => {
    const run = await against(
      () => ({
        status: 200,
        body: { deviceId: "ghost", onAllowlist: false, attempts: [], advice: "Check the endpoint." },
      }),
      "device",
      "why",
      "ghost",
    );

    expect(run.stdout).toBe(
      "device ghost: not on the allowlist\nno certificate has tried to be this device\nadvice: Check the endpoint.\n",
    );
  });

  it("prints the API's JSON with --json", async () => {
    const run = await against(
      () => ({ status: 200, body: diagnosis }),
      "device",
      "why",
      "sensor-7",
      "--json",
    );

    expect(JSON.parse(run.stdout)).toEqual(diagnosis);
  });

  it("escapes what a device put in its certificate before it reaches the terminal", async () => {
    const run = await against(
      () => ({
        status: 200,
        body: {
          ...diagnosis,
          attempts: [{ ...diagnosis.attempts[0], diagnosis: "DEVICE_ID_INVALID: a\u001b[2Jb" }],
        },
      }),
      "device",
      "why",
      "sensor-7",
    );

    expect(run.stdout).toContain("DEVICE_ID_INVALID: a\\x1b[2Jb");
  });
});

describe("fleetgate device show, for a device not on the allowlist", () => {
  it("exits 4 and points to fleetgate device why", async () => {
    const run = await against(
      () => ({ status: 404, body: { title: "not found", detail: "device ghost does not exist" } }),
      "device",
      "show",
      "ghost",
    );

    expect(run.code).toBe(EXIT.notFound);
    expect(run.stderr).toContain("404 not found: device ghost does not exist");
    expect(run.stderr).toContain(
      "ghost is not on the allowlist: fleetgate device why ghost tells what became of the certificates that tried to be it",
    );
  });

  it("keeps the hint in the JSON error with --json", async () => {
    const run = await against(
      () => ({ status: 404, body: { title: "not found", detail: "device ghost does not exist" } }),
      "device",
      "show",
      "ghost",
      "--json",
    );

    expect(JSON.parse(run.stderr).error).toMatchObject({
      kind: "notFound",
      exitCode: 4,
      hint: expect.stringMatching(/fleetgate device why ghost/),
    });
  });
});

describe("fleetgate cert show", () => {
  it("finds a certificate by its fingerprint as tools print it, and shows IoT Core's status and fleetgate's decision", async () => {
    const fingerprint = CERT.toUpperCase().replace(/(..)(?!$)/g, "$1:");
    const run = await against(
      () => ({
        status: 200,
        body: {
          certificateId: CERT,
          status: "REVOKED",
          caCertificateId: "c".repeat(64),
          record: {
            certificateId: CERT,
            outcome: "REJECTED",
            refusal: { code: "IDENTITY_ALREADY_CLAIMED", detail: "held by certificate 9c3e…" },
            deviceId: "sensor-7",
            at: "2026-11-25T10:00:00.000Z",
          },
        },
      }),
      "cert",
      "show",
      fingerprint,
    );

    expect(run.code).toBe(EXIT.ok);
    expect(server?.received.map((r) => r.path)).toEqual([`/certificates/${CERT}`]);
    expect(run.stdout.trimEnd().split("\n")).toEqual([
      `certificate  ${CERT}`,
      "IoT Core     REVOKED",
      `CA           ${"c".repeat(64)}`,
      "fleetgate    REJECTED IDENTITY_ALREADY_CLAIMED: held by certificate 9c3e… (device sensor-7) at 2026-11-25T10:00:00.000Z",
    ]);
  });

  it("says when IoT Core no longer has it and fleetgate recorded it waiting", async () => {
    const run = await against(
      () => ({
        status: 200,
        body: {
          certificateId: CERT,
          record: {
            certificateId: CERT,
            outcome: "WAITING",
            refusal: { code: "NOT_ON_ALLOWLIST", detail: "device id d-1" },
            caCertificateId: "c".repeat(64),
            firstSeenAt: "2026-11-20T08:00:00.000Z",
            lastSeenAt: "2026-11-21T08:00:00.000Z",
            attempts: 2,
          },
        },
      }),
      "cert",
      "show",
      CERT,
    );

    expect(run.stdout).toContain("IoT Core     no such certificate (deleted, or never registered)");
    expect(run.stdout).toContain(
      "fleetgate    WAITING NOT_ON_ALLOWLIST: device id d-1, since 2026-11-20T08:00:00.000Z, 2 connects",
    );
  });

  it("an unknown certificate exits 4", async () => {
    const run = await against(
      () => ({ status: 404, body: { title: "not found", detail: `certificate ${CERT} is unknown here` } }),
      "cert",
      "show",
      CERT,
    );

    expect(run.code).toBe(EXIT.notFound);
  });
});
