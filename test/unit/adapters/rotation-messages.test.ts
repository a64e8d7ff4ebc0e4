import { describe, expect, it } from "vitest";
import { parseRotationMessage, parseRotationWork } from "#adapters/rotation-messages.js";

const CERT = "a".repeat(64);
const body = (fields: Record<string, unknown>) =>
  JSON.stringify({
    topic: "devices/sensor-1/rotation/csr",
    clientId: "sensor-1",
    principal: CERT,
    ...fields,
  });

describe("what the rotation topic rule delivers", () => {
  it("is a request of the device its client id names, spoken by the certificate principal() names", () => {
    expect(parseRotationMessage(body({ csr: "PEM" }), "devices")).toEqual({
      ok: true,
      message: { kind: "csr", deviceId: "sensor-1", speaker: CERT, csr: "PEM" },
    });
  });

  it("is a commit, naming its rotation when the device does", () => {
    expect(
      parseRotationMessage(body({ topic: "devices/sensor-1/rotation/commit", rotationId: "r-1" }), "devices"),
    ).toEqual({
      ok: true,
      message: { kind: "commit", deviceId: "sensor-1", speaker: CERT, rotationId: "r-1" },
    });
  });

  it("follows a deployment's topic prefix of several levels", () => {
    expect(
      parseRotationMessage(body({ topic: "acme/fleet/sensor-1/rotation/csr", csr: "PEM" }), "acme/fleet").ok,
    ).toBe(true);
  });

  it.each([
    ["another device's topic", { topic: "devices/sensor-2/rotation/csr", csr: "PEM" }],
    ["another step", { topic: "devices/sensor-1/rotation/accepted", csr: "PEM" }],
    ["a principal that is no certificate (an IAM caller)", { principal: "AIDAEXAMPLE", csr: "PEM" }],
    ["a client id that is no Thing name", { clientId: "a/b", csr: "PEM" }],
  ])("is refused when it has %s", (_, fields) => {
    expect(parseRotationMessage(body(fields), "devices")).toMatchObject({ ok: false });
  });

  it("without a CSR is refused with an answer for the device", () => {
    expect(parseRotationMessage(body({}), "devices")).toMatchObject({
      ok: false,
      answerTo: { deviceId: "sensor-1", step: "csr" },
    });
  });

  it("that is not JSON is refused without throwing", () => {
    expect(parseRotationMessage("not json", "devices")).toEqual({ ok: false, why: "body is not JSON" });
  });
});

describe("the rotation worker's messages", () => {
  it("are a timer or a campaign page, and nothing else", () => {
    const timer = {
      kind: "commit-deadline",
      deviceId: "sensor-1",
      rotationId: "r-1",
      dueAt: "2026-11-25T12:00:00.000Z",
    };
    expect(parseRotationWork(JSON.stringify({ kind: "timer", timer }))).toEqual({ kind: "timer", timer });
    expect(
      parseRotationWork(JSON.stringify({ kind: "campaign-page", page: { campaignId: "c", page: 0 } })),
    ).toEqual({
      kind: "campaign-page",
      page: { campaignId: "c", page: 0 },
    });
    expect(
      parseRotationWork(JSON.stringify({ kind: "timer", timer: { ...timer, dueAt: "soon" } })),
    ).toBeUndefined();
    expect(parseRotationWork("{")).toBeUndefined();
  });
});
