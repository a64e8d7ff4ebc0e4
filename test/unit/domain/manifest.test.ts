import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_MANIFEST_RULES,
  ManifestFormatError,
  type ManifestRecord,
  readManifestRecords,
  repeatedJsonKey,
  validateManifestRecord,
} from "#domain/manifest.js";
import { createCa, type Issuer, issueDeviceCertificate } from "#local/dev-pki.js";

const read = async (text: string, chunkSize = text.length || 1): Promise<ManifestRecord[]> => {
  const chunks: Buffer[] = [];
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const records: ManifestRecord[] = [];
  for await (const record of readManifestRecords(chunks)) records.push(record);
  return records;
};

const rules = { maxThingAttributes: 50, deviceIdField: "CN" } as const;
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

  it("refuses a header that names a column twice, naming the column and the line", async () => {
    await expect(read("deviceId,deviceId\na,b\nc,d\n")).rejects.toThrow(
      /line 1: column deviceId appears twice/,
    );
    await expect(read("\ndeviceId, attr.color ,attr.color\nd,red,blue\n")).rejects.toThrow(
      /line 2: column attr\.color appears twice/,
    );
  });

  it("refuses an attributes column in CSV, where attributes are attr.* columns", async () => {
    await expect(read("deviceId,attributes\nd,x\n")).rejects.toThrow(/unknown column\(s\) attributes/);
  });

  it("reports a JSON line that names a field twice instead of keeping the last", async () => {
    const records = await read(
      '{"deviceId":"c","deviceId":"d"}\n{"deviceId":"e","attributes":{"a":"1","a":"2"}}\n{"deviceId":"f","attributes":{"a":"1"},"model":"m"}\n',
    );
    expect(records).toEqual([
      { line: 1, error: "field deviceId appears twice" },
      { line: 2, error: "field attributes.a appears twice" },
      { line: 3, record: { deviceId: "f", attributes: { a: "1" }, model: "m" } },
    ]);
    expect(await read('{"deviceId":"a", "device\\u0049d" :"b"}\n')).toEqual([
      { line: 1, error: "field deviceId appears twice" },
    ]);
  });

  it.each([
    ['{"devices":[{"deviceId":"a"},{"deviceId":"b","deviceId":"c"}]}', "devices.deviceId"],
    ['{"a":[[{"x":1}],{"y":{"z":1,"z":2}}]}', "a.y.z"],
    ['{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":1}]}', undefined],
  ])("names the repeated key of %s by its path", (text, path) => {
    expect(repeatedJsonKey(text)).toBe(path);
  });

  it("never takes distinct JSON keys for repeated ones, whatever they and their values hold", async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string(), fc.jsonValue()), async (attributes) => {
        const record = { deviceId: "d", attributes };
        expect(await read(`${JSON.stringify(record)}\n`)).toEqual([
          { line: 1, record: JSON.parse(JSON.stringify(record)) },
        ]);
      }),
    );
  });

  it("refuses a CSV manifest whole when a record exceeds 64 KB, naming its line once, whatever the chunking", async () => {
    const text = `deviceId,model\nd-1,m1\nd-2,${"x".repeat(70 * 1024)}\nd-3,m3\nd-4,m4\n`;
    for (const size of [text.length, 8192, 1000]) {
      await expect(read(text, size)).rejects.toThrow(
        /^line 3: a record is longer than 65536 characters: the manifest is refused whole$/,
      );
    }
  });

  it("refuses a JSON-lines manifest whole when a line exceeds 64 KB, naming it, whatever the chunking", async () => {
    const long = JSON.stringify({ deviceId: "d-2", model: "x".repeat(70 * 1024) });
    const text = `{"deviceId":"d-1"}\n${long}\n{"deviceId":"d-3"}\n`;
    for (const size of [text.length, 8192, 1000]) {
      await expect(read(text, size)).rejects.toThrow(
        /^line 2: a line is longer than 65536 characters: the manifest is refused whole$/,
      );
    }
  });

  it.each([
    ["CSV", "deviceId\na\nb\n"],
    ["JSON lines", '{"deviceId":"a"}\n{"deviceId":"b"}\n'],
  ])(
    "fails with the stream's own error when a %s manifest's stream fails midway",
    async (_, text) => {
      const outage = new Error("connection reset");
      async function* failing() {
        yield Buffer.from(text);
        throw outage;
      }
      const reading = (async () => {
        for await (const _record of readManifestRecords(failing()));
      })();
      await expect(reading).rejects.toBe(outage);
    },
    2000,
  );

  it("refuses an empty manifest", async () => {
    await expect(read("")).rejects.toThrow(/empty/);
  });
});

describe("validateManifestRecord", () => {
  it("normalises pins and collects attr.* or an attributes object", () => {
    const result = validateManifestRecord(
      {
        deviceId: "d-1",
        model: "m1",
        "attr.color": "red",
        "attr.site": "lyon",
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
    expect(validateManifestRecord({ deviceId: "d-1", attributes: { site: "lyon" } }, 3, rules)).toMatchObject(
      {
        ok: true,
        row: { attributes: { site: "lyon" } },
      },
    );
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

  it.each([
    [
      { deviceId: "d", "attr.color": "red", attributes: { size: "xl" } },
      /attributes and attr\.\* cannot be mixed/,
    ],
    [{ deviceId: "d", attributes: ["red"] }, /attributes must be an object of names and values/],
    [{ deviceId: "d", attributes: "red" }, /attributes must be an object of names and values/],
  ])("refuses %j instead of merging or dropping its attributes", (record, message) => {
    expect(validateManifestRecord(record, 4, rules)).toEqual({
      ok: false,
      problem: { line: 4, deviceId: "d", message: expect.stringMatching(message) },
    });
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

describe("validateManifestRecord with a certificate", () => {
  let ca: Issuer;
  beforeAll(async () => {
    ca = await createCa();
  });

  it("pins the certificate a row brings to the device it names", async () => {
    const { pem } = await issueDeviceCertificate(ca, { deviceId: "d-a" });
    expect(validateManifestRecord({ deviceId: "d-a", certificatePem: pem }, 2, rules)).toMatchObject({
      ok: true,
      row: { deviceId: "d-a", pins: { certificateSha256: expect.stringMatching(/^[0-9a-f]{64}$/) } },
    });
  });

  it("refuses a row whose certificate names another device", async () => {
    const { pem } = await issueDeviceCertificate(ca, { deviceId: "d-b" });
    expect(validateManifestRecord({ deviceId: "d-a", certificatePem: pem }, 5, rules)).toEqual({
      ok: false,
      problem: { line: 5, deviceId: "d-a", message: "certificatePem names device d-b (CN), not d-a" },
    });
  });

  it("reads the certificate's device from the configured subject field", async () => {
    const { pem } = await issueDeviceCertificate(ca, { subject: "CN=Sensor, 2.5.4.5=d-a" });
    const bySerial = { ...rules, deviceIdField: "serialNumber" } as const;
    expect(validateManifestRecord({ deviceId: "d-a", certificatePem: pem }, 2, bySerial).ok).toBe(true);
    expect(validateManifestRecord({ deviceId: "d-a", certificatePem: pem }, 2, rules)).toMatchObject({
      ok: false,
      problem: { message: "certificatePem names device Sensor (CN), not d-a" },
    });
  });

  it("refuses a row whose certificate names no device", async () => {
    const { pem } = await issueDeviceCertificate(ca, { subject: "O=Acme" });
    expect(validateManifestRecord({ deviceId: "d-a", certificatePem: pem }, 3, rules)).toMatchObject({
      ok: false,
      problem: { line: 3, message: expect.stringMatching(/^certificatePem DEVICE_ID_MISSING/) },
    });
  });
});
