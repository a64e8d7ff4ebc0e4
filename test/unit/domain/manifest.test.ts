import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MANIFEST_RULES,
  ManifestFormatError,
  type ManifestRecord,
  readManifestRecords,
  validateManifestRecord,
} from "#domain/manifest.js";

const read = async (text: string, chunkSize = text.length || 1): Promise<ManifestRecord[]> => {
  const chunks: Buffer[] = [];
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const records: ManifestRecord[] = [];
  for await (const record of readManifestRecords(chunks)) records.push(record);
  return records;
};

const rules = { maxThingAttributes: 50 };
const PIN = "ab".repeat(32);

describe("readManifestRecords", () => {
  it("reads CSV with a header, giving each record its line number", async () => {
    const records = await read("deviceId,model,attr.color\nd-1,m1,red\n\nd-2,m2,blue\n");
    expect(records).toEqual([
      { line: 2, record: { deviceId: "d-1", model: "m1", "attr.color": "red" } },
      { line: 4, record: { deviceId: "d-2", model: "m2", "attr.color": "blue" } },
    ]);
  });

  it("reads JSON lines and reports lines that are not JSON objects", async () => {
    const records = await read('{"deviceId":"a"}\nnope\n[1]\n{"deviceId":"b","typo":1}\n');
    expect(records).toEqual([
      { line: 1, record: { deviceId: "a" } },
      { line: 2, error: "line is not valid JSON" },
      { line: 3, error: "line is not a JSON object" },
      { line: 4, error: "unknown field(s) typo" },
    ]);
  });

  it("gives the same records whatever the chunking of the stream", async () => {
    const text = 'deviceId,model\n"d-1",m1\nd-2,"m,2"\n';
    const whole = await read(text);
    for (const size of [1, 2, 3, 7]) expect(await read(text, size)).toEqual(whole);
    const jsonl = '{"deviceId":"é-1"}\n{"deviceId":"d-2"}';
    const wholeJsonl = await read(jsonl);
    for (const size of [1, 2, 5]) expect(await read(jsonl, size)).toEqual(wholeJsonl);
  });

  it("reports a CSV row with the wrong number of columns and goes on", async () => {
    const records = await read("deviceId,model\nd-1,m1,extra\nd-2,m2\n");
    expect(records[0]).toMatchObject({ line: 2, error: expect.stringMatching(/column/i) });
    expect(records[1]).toEqual({ line: 3, record: { deviceId: "d-2", model: "m2" } });
  });

  it("refuses a header with unknown columns, naming them", async () => {
    await expect(read("deviceID,model\nx,y\n")).rejects.toThrow(ManifestFormatError);
    await expect(read("deviceID,model\nx,y\n")).rejects.toThrow(/deviceID/);
  });

  it("refuses an empty manifest", async () => {
    await expect(read("")).rejects.toThrow(/empty/);
  });
});

describe("validateManifestRecord", () => {
  it("normalises pins and collects attr.* and attributes", () => {
    const result = validateManifestRecord(
      {
        deviceId: "d-1",
        model: "m1",
        "attr.color": "red",
        attributes: { site: "lyon" },
        certificateSha256: PIN.toUpperCase().match(/../g)?.join(":"),
      },
      2,
      rules,
    );
    expect(result).toEqual({
      ok: true,
      row: {
        line: 2,
        deviceId: "d-1",
        model: "m1",
        attributes: { site: "lyon", color: "red" },
        pins: { certificateSha256: PIN },
      },
    });
  });

  it.each([
    [{ model: "m" }, /deviceId/],
    [{ deviceId: "a/b" }, /deviceId must be/],
    [{ deviceId: "d", certificateSha256: "abc" }, /certificateSha256 must be a SHA-256/],
    [{ deviceId: "d", "attr.batch": "x" }, /set by fleetgate/],
    [{ deviceId: "d", "attr.color": "red blue" }, /attribute values/],
  ])("reports %j with the field's name", (record, message) => {
    const result = validateManifestRecord(record, 7, rules);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problem.line).toBe(7);
      expect(result.problem.message).toMatch(message);
    }
  });

  it("counts batch and model against IoT's attribute limit for Things without a type", () => {
    const result = validateManifestRecord(
      { deviceId: "d", model: "m", "attr.a": "1", "attr.b": "2" },
      2,
      DEFAULT_MANIFEST_RULES,
    );
    expect(result).toMatchObject({
      ok: false,
      problem: { message: expect.stringMatching(/4 Thing attributes .* limit of 3/) },
    });
  });

  it("never throws, whatever the record", () => {
    fc.assert(
      fc.property(fc.anything(), fc.nat(), (record, line) => {
        const result = validateManifestRecord(record, line, rules);
        expect(typeof result.ok).toBe("boolean");
      }),
    );
  });
});
