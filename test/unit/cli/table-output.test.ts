import { beforeEach, describe, expect, it } from "vitest";
import type { ApiAnswer } from "#cli/api-client.js";
import { runCli } from "#cli/program.js";
import { printable } from "#cli/terminal.js";

const CLEAR_SCREEN = "\u001b[2J";
const TITLE = "\u001b]0;owned\u0007";
let out: string[];
let err: string[];
let answer: ApiAnswer;

const run = (...argv: string[]) =>
  runCli([...argv, "--api-url", "http://api"], {
    devices: { api: () => async () => answer, out: (text) => out.push(text), defaultRegion: "eu-west-1" },
    deps: () => {
      throw new Error("not used");
    },
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    actor: "cli:test",
  });

const hostile = `sensor${CLEAR_SCREEN}`;

beforeEach(() => {
  out = [];
  err = [];
});

/** Nothing a terminal would act on: no C0 or C1 control but the line breaks the CLI itself writes. */
const inert = (text: string) => {
  const controls = [...text].filter((c) => {
    const code = c.codePointAt(0) ?? 0;
    return (code < 0x20 && c !== "\n") || (code >= 0x7f && code <= 0x9f);
  });
  expect(controls).toEqual([]);
};

describe("readable output of what devices and operators sent", () => {
  it("shows control characters in refused manifest rows escaped, one table row per row", async () => {
    answer = {
      status: 200,
      body: {
        batchId: "lot-1",
        state: "PARTIAL",
        counts: { rows: 2, accepted: 1, duplicates: 0, conflicts: 0, invalid: 1 },
        issues: [{ line: 3, kind: "invalid", deviceId: hostile, message: `bad\nline 4  invalid  forged` }],
      },
    };
    await run("batch", "show", "lot-1");
    const text = out.join("\n");
    inert(text);
    expect(text).toContain("sensor\\x1b[2J");
    expect(text).toContain("bad\\nline 4  invalid  forged");
    expect(text.split("\n").filter((line) => line.startsWith("3 "))).toHaveLength(1);
  });

  it("shows control characters in reasons and actors of a device's history escaped", async () => {
    answer = {
      status: 200,
      body: {
        events: [
          {
            at: "2026-01-01T00:00:00Z",
            type: "SUSPENDED",
            actor: `ops${TITLE}`,
            reason: `noisy${CLEAR_SCREEN}`,
          },
        ],
      },
    };
    await run("device", "events", "d-1");
    inert(out.join("\n"));
    expect(out.join("\n")).toContain("ops\\x1b]0;owned\\x07");
  });

  it("escapes every field of a device view, a batch list, a recall and a problem answer", async () => {
    const views: [string[], ApiAnswer][] = [
      [
        ["device", "show", "d-1"],
        {
          status: 200,
          body: {
            device: { deviceId: hostile, state: "ACTIVE", batchId: hostile, attributes: { a: hostile } },
            history: [{ at: "t", type: "REVOKED", actor: hostile, reason: hostile }],
          },
        },
      ],
      [["device", "list", "--state", "ACTIVE"], { status: 200, body: { devices: [{ deviceId: hostile }] } }],
      [["batch", "list"], { status: 200, body: { batches: [{ batchId: hostile, state: "REGISTERED" }] } }],
      [
        ["batch", "show", "lot-1"],
        {
          status: 200,
          body: {
            batchId: "lot-1",
            state: "FAILED",
            error: hostile,
            source: hostile,
            registeredBy: hostile,
            recall: { state: "RECALLING", pagesDone: 0, reason: hostile },
          },
        },
      ],
      [
        ["batch", "recall", "lot-1", "--reason", "x"],
        {
          status: 202,
          body: { batchId: "lot-1", recall: { state: "RECALLING", pagesDone: 0, reason: hostile } },
        },
      ],
      [
        ["device", "show", "d-1"],
        { status: 409, body: { title: hostile, detail: hostile, errors: [hostile] } },
      ],
    ];
    for (const [argv, view] of views) {
      answer = view;
      await run(...argv);
    }
    inert([...out, ...err].join("\n"));
    expect([...out, ...err].join("\n")).not.toContain(CLEAR_SCREEN);
  });

  it("prints --json output as the same JSON, with C1 controls and bidirectional overrides escaped too", async () => {
    answer = { status: 200, body: { devices: [{ deviceId: hostile, reason: "\u009b2J \u202eevil" }] } };
    await run("device", "list", "--state", "ACTIVE", "--json");
    expect(JSON.parse(out.join(""))).toEqual(answer.body);
    inert(out.join(""));
    expect(out.join("")).toContain("\\u009b2J \\u202eevil");
  });
});

describe("printable", () => {
  it("escapes C0 and C1 controls, DEL, bidirectional overrides and backslashes, and nothing else", () => {
    expect(printable("a\u0000b\u001b[0m\u007f\u009b\u202e\u2066\\ é 漢")).toBe(
      "a\\x00b\\x1b[0m\\x7f\\x9b\\u202e\\u2066\\\\ é 漢",
    );
    expect(printable("sensor-42 lot:7_a")).toBe("sensor-42 lot:7_a");
  });
});

describe("readable output of empty answers", () => {
  it.each([
    [["device", "list", "--state", "ACTIVE"], { devices: [] }, "no devices"],
    [["batch", "list"], { batches: [] }, "no batches"],
    [["device", "events", "d-1"], { events: [] }, "no events"],
    [
      ["device", "list", "--batch", "lot-1"],
      { devices: [], cursor: "c1" },
      "no devices\nnext page: --cursor c1",
    ],
  ])("%j says so in words, not with a bare header", async (argv, body, shown) => {
    answer = { status: 200, body };
    await run(...argv);
    expect(out.join("\n")).toBe(shown);
  });

  it("shows a device without history without an empty history table", async () => {
    answer = { status: 200, body: { device: { deviceId: "d-1", state: "ALLOWED" }, history: [] } };
    await run("device", "show", "d-1");
    expect(out.join("\n")).not.toMatch(/\bat +type +actor/);
  });
});
