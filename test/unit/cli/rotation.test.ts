import { afterEach, describe, expect, it, vi } from "vitest";
import { EXIT } from "#cli/failures.js";
import { type LocalServer, localServer, type Received, type Reply } from "./local-server.js";
import { awsEnvironment, runProcessCli, STATIC_KEYS } from "./real-cli.js";

/** fleetgate device rotate and fleetgate rotation against an API on loopback, as a process runs them. */
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

const CAMPAIGN = "0b4c2f5e-3a1d-4e2b-9c7a-1f2e3d4c5b6a";
const campaign = {
  campaignId: CAMPAIGN,
  selector: { batchId: "lot-42" },
  windows: { commitWithinSeconds: 3600, graceSeconds: 86400 },
  requestedBy: "arn:aws:iam::123456789012:user/ops",
  createdAt: "2026-11-25T12:00:00.000Z",
  perMinute: 200,
  pagesDone: 1,
  requested: 2,
  skipped: 1,
};

describe("fleetgate device rotate", () => {
  it("asks the API to rotate the device with the windows and reason given", async () => {
    const run = await against(
      () => ({
        status: 200,
        body: {
          device: { deviceId: "sensor-7" },
          rotation: {
            rotationId: "r-1",
            state: "REQUESTED",
            jobId: "fleetgate-rotate-r-1",
            windows: { commitWithinSeconds: 60, graceSeconds: 5 },
          },
        },
      }),
      "device",
      "rotate",
      "sensor-7",
      "--commit-within",
      "60",
      "--grace",
      "5",
      "--reason",
      "drill",
    );

    expect(run.code).toBe(EXIT.ok);
    expect(server?.received.map((r) => [r.method, r.path, JSON.parse(r.body)])).toEqual([
      ["POST", "/devices/sensor-7/rotate", { reason: "drill", commitWithinSeconds: 60, graceSeconds: 5 }],
    ]);
    expect(run.stdout.trimEnd().split("\n")).toEqual([
      "device       sensor-7",
      "rotation     r-1 REQUESTED, told through job fleetgate-rotate-r-1",
      "windows      commit within 60 s, grace 5 s",
    ]);
  });

  it("refuses windows that are not whole seconds before calling the API", async () => {
    const run = await against(
      () => ({ status: 500, body: {} }),
      "device",
      "rotate",
      "sensor-7",
      "--grace",
      "1h",
    );
    expect(run.code).toBe(EXIT.invalid);
    expect(server?.received).toEqual([]);
  });

  it("a device with a rotation running is a conflict, exit code 5", async () => {
    const run = await against(
      () => ({ status: 409, body: { title: "conflict", detail: "a rotation is running" } }),
      "device",
      "rotate",
      "sensor-7",
    );
    expect(run.code).toBe(EXIT.conflict);
  });
});

describe("fleetgate rotation", () => {
  it("campaign --batch starts a campaign over the batch", async () => {
    const run = await against(
      () => ({ status: 202, body: { campaign } }),
      "rotation",
      "campaign",
      "--batch",
      "lot-42",
    );
    expect(JSON.parse(server?.received[0]?.body ?? "")).toEqual({ batchId: "lot-42" });
    expect(run.stdout).toContain(`campaign     ${CAMPAIGN}`);
    expect(run.stdout).toContain("progress     1 pages: 2 devices asked, 1 skipped; 200 a minute");
  });

  it("campaign --expiring-within starts one over the certificates the expiry watch reports", async () => {
    await against(
      () => ({ status: 202, body: { campaign } }),
      "rotation",
      "campaign",
      "--expiring-within",
      "30",
    );
    expect(JSON.parse(server?.received[0]?.body ?? "")).toEqual({ expiringWithinDays: 30 });
  });

  it("status shows each asked device's rotation", async () => {
    const run = await against(
      () => ({
        status: 200,
        body: {
          campaign,
          state: "RUNNING",
          devices: [
            {
              deviceId: "lot-42-a",
              page: 0,
              rotation: "COMMITTED",
              certificateId: "c1",
              at: "2026-11-25T12:01:00Z",
            },
            { deviceId: "lot-42-b", page: 0, rotation: "REQUESTED", at: "2026-11-25T12:00:00Z" },
          ],
          cursor: "next",
        },
      }),
      "rotation",
      "status",
      CAMPAIGN,
    );
    expect(server?.received[0]?.path).toBe(`/rotations/${CAMPAIGN}`);
    expect(run.stdout.trimEnd().split("\n").slice(3)).toEqual([
      "",
      "deviceId  page  rotation   certificateId  at",
      "lot-42-a  0     COMMITTED  c1             2026-11-25T12:01:00Z",
      "lot-42-b  0     REQUESTED  -              2026-11-25T12:00:00Z",
      "next pages: --cursor next",
    ]);
  });
});
