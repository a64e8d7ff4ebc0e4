import { pipeline, Readable } from "node:stream";
import { CsvError, parse } from "csv-parse";
import * as z from "zod/mini";
import { inspectCertificate, type SubjectField } from "./certificate.js";
import { readDeviceId } from "./certificate-checks.js";
import type { Pins } from "./device.js";
import { DEVICE_ID_RULE, type DeviceId, isDeviceId } from "./ids.js";
import { describeRefusal } from "./refusal.js";
import "./validation.js";

/** One valid manifest row: a device the manufacturing line made. */
export interface ManifestRow {
  readonly line: number;
  readonly deviceId: DeviceId;
  readonly model?: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly pins: Pins;
  /** Present when the manufacturing line supplied the device's certificate for pre-registration. */
  readonly certificatePem?: string;
  /**
   * A replacement row: the device is provisioned already with the certificate of this SHA-256, and
   * the row's certificate (its certificateSha256 pin) is approved to replace it (planned
   * re-provisioning). Such a row adds no allowlist entry.
   */
  readonly replaces?: string;
}

export interface RowProblem {
  readonly line: number;
  readonly deviceId?: string;
  readonly message: string;
}

export type RowResult =
  | { readonly ok: true; readonly row: ManifestRow }
  | { readonly ok: false; readonly problem: RowProblem };

export interface ManifestRules {
  /** IoT Core: 3 attributes for a Thing without a thing type, 50 with one. `batch` and `model` count. */
  readonly maxThingAttributes: number;
  /** The subject field that names the device in a certificate (DEVICE_ID_FIELD), as JITR reads it. */
  readonly deviceIdField: SubjectField;
}

export const DEFAULT_MANIFEST_RULES: ManifestRules = { maxThingAttributes: 3, deviceIdField: "CN" };

/** IoT Core's attribute limit depends on whether the devices' Things have a type. */
export const manifestRulesFor = (
  thingTypeName: string | undefined,
  deviceIdField: SubjectField = DEFAULT_MANIFEST_RULES.deviceIdField,
): ManifestRules => ({ maxThingAttributes: thingTypeName ? 50 : 3, deviceIdField });

// IoT Core's attribute name and value alphabets.
const ATTRIBUTE_NAME = /^[a-zA-Z0-9_.,@/:#-]{1,128}$/;
const ATTRIBUTE_VALUE = /^[a-zA-Z0-9_.,@/:#=[\]-]{0,800}$/;
const RESERVED_ATTRIBUTES = new Set(["batch", "model"]);
const ATTRIBUTE_COLUMN = "attr.";
const CSV_COLUMNS = new Set([
  "deviceId",
  "model",
  "certificateSha256",
  "publicKeySha256",
  "certificatePem",
  "replacesCertificateSha256",
]);
// JSON lines may also bring the attributes as one object.
const JSON_FIELDS = new Set([...CSV_COLUMNS, "attributes"]);

const fingerprint = z.pipe(
  z.pipe(
    z.string(),
    z.transform((value: string) => value.replace(/:/g, "").toLowerCase()),
  ),
  z.string().check(z.regex(/^[0-9a-f]{64}$/, "must be a SHA-256 in hex (64 characters, colons allowed)")),
);

// An empty CSV cell or a JSON null is no value.
const emptyAsUnset = z.transform(
  (value: unknown) => (value === "" || value === null ? undefined : value) as string | undefined,
);

const rowSchema = z.object({
  deviceId: z.string({ error: "is required" }).check(z.refine(isDeviceId, `must be ${DEVICE_ID_RULE}`)),
  model: z.pipe(
    emptyAsUnset,
    z.optional(
      z.string().check(z.regex(ATTRIBUTE_VALUE, "must use IoT attribute value characters"), z.maxLength(128)),
    ),
  ),
  certificateSha256: z.pipe(emptyAsUnset, z.optional(fingerprint)),
  publicKeySha256: z.pipe(emptyAsUnset, z.optional(fingerprint)),
  replacesCertificateSha256: z.pipe(emptyAsUnset, z.optional(fingerprint)),
  // A secure-element vendor's certificate, to register with IoT Core ahead of the first connection.
  certificatePem: z.pipe(
    emptyAsUnset,
    z.optional(
      z
        .string()
        .check(
          z.maxLength(16 * 1024),
          z.regex(
            /^\s*-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/,
            "must be one PEM certificate",
          ),
        ),
    ),
  ),
  attributes: z
    .record(
      z.string(),
      z
        .string()
        .check(z.regex(ATTRIBUTE_VALUE, "attribute values use IoT attribute value characters (up to 800)")),
    )
    .check(
      z.superRefine((attributes, context) => {
        for (const name of Object.keys(attributes)) {
          if (!ATTRIBUTE_NAME.test(name)) {
            context.addIssue({
              code: "custom",
              path: [name],
              message: "attribute names use IoT attribute name characters",
            });
          } else if (RESERVED_ATTRIBUTES.has(name)) {
            context.addIssue({
              code: "custom",
              path: [name],
              message: "attribute names batch and model are set by fleetgate",
            });
          }
        }
      }),
    ),
});

/** Validates one raw record (a CSV row by header, or a JSON-lines object) into a row or a problem. */
export const validateManifestRecord = (record: unknown, line: number, rules: ManifestRules): RowResult => {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    return { ok: false, problem: { line, message: "row is not an object" } };
  }
  const raw = record as Record<string, unknown>;
  const deviceId = typeof raw.deviceId === "string" ? raw.deviceId : undefined;
  const attributes = collectAttributes(raw);
  if (typeof attributes === "string")
    return { ok: false, problem: { line, ...(deviceId ? { deviceId } : {}), message: attributes } };
  const parsed = rowSchema.safeParse({ ...raw, attributes });
  if (!parsed.success) {
    const message = parsed.error.issues
      .map((issue) => `${issue.path.join(".") || "row"} ${issue.message}`)
      .join("; ");
    return { ok: false, problem: { line, ...(deviceId ? { deviceId } : {}), message } };
  }
  const { model, publicKeySha256, certificatePem } = parsed.data;
  let { certificateSha256 } = parsed.data;
  if (certificatePem) {
    // The allowlist pins exactly the certificate the manifest brings.
    const inspection = inspectCertificate(certificatePem);
    if (!inspection.ok)
      return {
        ok: false,
        problem: { line, deviceId: parsed.data.deviceId, message: `certificatePem ${inspection.error}` },
      };
    // The certificate must name the row's device: it would otherwise provision the device it names,
    // and this row's entry would stay pinned to a certificate that can never be its own.
    const named = readDeviceId(inspection.certificate, rules.deviceIdField);
    const mismatch = !named.ok
      ? describeRefusal(named.refusal)
      : named.deviceId !== parsed.data.deviceId
        ? `names device ${named.deviceId} (${rules.deviceIdField}), not ${parsed.data.deviceId}`
        : undefined;
    if (mismatch)
      return {
        ok: false,
        problem: { line, deviceId: parsed.data.deviceId, message: `certificatePem ${mismatch}` },
      };
    const fingerprint = inspection.certificate.facts.certificateSha256;
    if (certificateSha256 && certificateSha256 !== fingerprint) {
      return {
        ok: false,
        problem: {
          line,
          deviceId: parsed.data.deviceId,
          message: "certificateSha256 does not match certificatePem",
        },
      };
    }
    certificateSha256 = fingerprint;
  }
  const replaces = parsed.data.replacesCertificateSha256;
  if (replaces) {
    // A replacement names an identity provisioned already and the one certificate that takes it
    // over: nothing else of the device changes, so nothing else may be said.
    const problem = !certificateSha256
      ? "replacesCertificateSha256 needs the replacement's certificateSha256 (or certificatePem)"
      : certificateSha256 === replaces
        ? "replacesCertificateSha256 is the replacement's own certificate"
        : publicKeySha256 || model || Object.keys(parsed.data.attributes).length > 0
          ? "a replacement row gives no publicKeySha256, model or attributes: the device keeps its own"
          : undefined;
    if (problem) return { ok: false, problem: { line, deviceId: parsed.data.deviceId, message: problem } };
  }
  const attributeCount = Object.keys(parsed.data.attributes).length + 1 + (model ? 1 : 0);
  if (attributeCount > rules.maxThingAttributes) {
    return {
      ok: false,
      problem: {
        line,
        deviceId: parsed.data.deviceId,
        message: `${attributeCount} Thing attributes (batch, model and attr.*) exceed the limit of ${rules.maxThingAttributes}`,
      },
    };
  }
  return {
    ok: true,
    row: {
      line,
      deviceId: parsed.data.deviceId as DeviceId,
      ...(model ? { model } : {}),
      ...(certificatePem ? { certificatePem: certificatePem.trim() } : {}),
      ...(replaces ? { replaces } : {}),
      attributes: parsed.data.attributes,
      pins: {
        ...(certificateSha256 ? { certificateSha256 } : {}),
        ...(publicKeySha256 ? { publicKeySha256 } : {}),
      },
    },
  };
};

/**
 * Attributes come as `attr.<name>` keys (CSV columns, JSON lines) or as a JSON `attributes` object,
 * never both: merging the two would let one silently override the other. Returns the reason when
 * they cannot be read.
 */
const collectAttributes = (raw: Record<string, unknown>): Record<string, unknown> | string => {
  const keyed = Object.keys(raw).filter((key) => key.startsWith(ATTRIBUTE_COLUMN));
  if (raw.attributes === undefined || raw.attributes === null) {
    const attributes: Record<string, unknown> = {};
    for (const key of keyed) {
      // An empty CSV cell is no attribute.
      if (raw[key] !== "" && raw[key] !== undefined)
        attributes[key.slice(ATTRIBUTE_COLUMN.length)] = raw[key];
    }
    return attributes;
  }
  if (typeof raw.attributes !== "object" || Array.isArray(raw.attributes))
    return "attributes must be an object of names and values";
  if (keyed.length > 0)
    return `attributes and attr.* cannot be mixed (${keyed.join(", ")}): give the attributes one way`;
  return { ...raw.attributes };
};

const unknownKeys = (keys: readonly string[], known: ReadonlySet<string>): string[] =>
  keys.filter((key) => !known.has(key) && !key.startsWith(ATTRIBUTE_COLUMN));

/** A raw record with its line number, or a line that could not be read at all. */
export type ManifestRecord =
  | { readonly line: number; readonly record: Record<string, unknown> }
  | { readonly line: number; readonly error: string };

export class ManifestFormatError extends Error {
  override readonly name = "ManifestFormatError";
}

/**
 * Streams the records of a manifest, CSV with a header or JSON lines (told apart by the first
 * non-blank character), without holding the whole manifest in memory.
 */
export async function* readManifestRecords(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
): AsyncGenerator<ManifestRecord> {
  const iterator: AsyncIterator<Uint8Array | string> = Readable.from(source)[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw new ManifestFormatError("manifest is empty");
  const head = typeof first.value === "string" ? first.value : Buffer.from(first.value).toString("utf8");
  const rest: AsyncIterable<Uint8Array | string> = { [Symbol.asyncIterator]: () => iterator };
  const whole = prepend(first.value, rest);
  if (head.trimStart().startsWith("{")) yield* readJsonLines(whole);
  else yield* readCsv(whole);
}

async function* prepend<T>(first: T, rest: AsyncIterable<T>): AsyncGenerator<T> {
  yield first;
  yield* rest;
}

async function* readJsonLines(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<ManifestRecord> {
  let line = 0;
  for await (const text of splitLines(source)) {
    line += 1;
    if (text.trim() === "") continue;
    try {
      const record: unknown = JSON.parse(text);
      if (typeof record !== "object" || record === null || Array.isArray(record)) {
        yield { line, error: "line is not a JSON object" };
        continue;
      }
      const unknown = unknownKeys(Object.keys(record), JSON_FIELDS);
      const repeated = unknown.length > 0 ? undefined : repeatedJsonKey(text);
      if (unknown.length > 0) yield { line, error: `unknown field(s) ${unknown.join(", ")}` };
      else if (repeated) yield { line, error: `field ${repeated} appears twice` };
      else yield { line, record: record as Record<string, unknown> };
    } catch {
      yield { line, error: "line is not valid JSON" };
    }
  }
}

/**
 * The first key that a valid JSON text names twice in one object, as a dotted path: JSON.parse
 * keeps the last one silently. Jumps from quote to quote, so long values cost little.
 */
export const repeatedJsonKey = (text: string): string | undefined => {
  // Open objects and arrays; an array has no keys. A value's path is its container's and its key.
  const open: { keys?: Set<string>; path: string }[] = [];
  let lastKey = "";
  const pathInside = () => {
    const parent = open.at(-1);
    if (!parent) return "";
    return parent.keys ? `${parent.path}${lastKey}.` : parent.path;
  };
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === 0x7b /* { */) {
      open.push({ keys: new Set(), path: pathInside() });
    } else if (code === 0x5b /* [ */) {
      open.push({ path: pathInside() });
    } else if (code === 0x7d /* } */ || code === 0x5d /* ] */) {
      open.pop();
    } else if (code === 0x22 /* " */) {
      let end = text.indexOf('"', i + 1);
      while (end > 0 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      // Not JSON (an unterminated string): JSON.parse refuses it on its own.
      if (end < 0) return undefined;
      let next = end + 1;
      while (/\s/.test(text.charAt(next))) next += 1;
      if (text.charAt(next) === ":") {
        const token = text.slice(i + 1, end);
        const key = token.includes("\\") ? (JSON.parse(`"${token}"`) as string) : token;
        const object = open.at(-1);
        if (object?.keys?.has(key)) return `${object.path}${key}`;
        object?.keys?.add(key);
        lastKey = key;
      }
      i = end;
    }
  }
  return undefined;
};

// A quote is escaped when an odd number of backslashes precede it.
const isEscaped = (text: string, quote: number): boolean => {
  let backslashes = 0;
  while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes += 1;
  return backslashes % 2 === 1;
};

const MAX_LINE_LENGTH = 64 * 1024;

// No row needs this much: a longer one is refused with the manifest rather than skipped, as the
// rows after it could not be told apart from it reliably (an unclosed quote runs on to the end).
const tooLong = (line: number, what: "line" | "record") =>
  new ManifestFormatError(
    `line ${line}: a ${what} is longer than ${MAX_LINE_LENGTH} characters: the manifest is refused whole`,
  );

/** The lines of a stream, whatever its chunking; a line longer than MAX_LINE_LENGTH refuses it. */
async function* splitLines(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  let pending = "";
  let line = 0;
  const next = (text: string) => {
    line += 1;
    if (text.length > MAX_LINE_LENGTH) throw tooLong(line, "line");
    return text;
  };
  for await (const chunk of source) {
    pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf("\n");
    while (newline >= 0) {
      yield next(pending.slice(0, newline).replace(/\r$/, ""));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf("\n");
    }
    // Checked here too, so an endless line is refused without holding it whole.
    if (pending.length > MAX_LINE_LENGTH) throw tooLong(line + 1, "line");
  }
  pending += decoder.decode();
  if (pending !== "") yield next(pending);
}

async function* readCsv(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<ManifestRecord> {
  const skipped: ManifestRecord[] = [];
  // csv-parse skips an oversized record together with every row after it: the manifest is refused instead.
  let oversized: number | undefined;
  const csv = parse({
    columns: (header: string[]) => {
      const names = header.map((name) => name.trim());
      const unknown = unknownKeys(names, CSV_COLUMNS);
      if (unknown.length > 0) throw new ManifestFormatError(`unknown column(s) ${unknown.join(", ")}`);
      if (!names.includes("deviceId")) throw new ManifestFormatError("header has no deviceId column");
      // csv-parse would keep the last of two same-named columns and drop the other's values.
      const repeated = names.find((name, index) => names.indexOf(name) !== index);
      if (repeated !== undefined)
        throw new ManifestFormatError(
          `line ${csv.info.lines}: column ${repeated} appears twice in the header`,
        );
      return names;
    },
    bom: true,
    trim: true,
    skip_empty_lines: true,
    info: true,
    max_record_size: MAX_LINE_LENGTH,
    skip_records_with_error: true,
    on_skip: (error: CsvError | undefined) => {
      if (error?.code === "CSV_MAX_RECORD_SIZE") oversized ??= Number(error.lines ?? 0);
      else if (error) skipped.push({ line: Number(error.lines ?? 0), error: error.message });
      return undefined;
    },
  });
  const flush = () => {
    if (oversized !== undefined) throw tooLong(oversized, "record");
    return skipped.splice(0);
  };
  // pipeline, not pipe: a source that fails (a dropped connection) must fail the parser, not stall it.
  const parser = pipeline(Readable.from(source), csv, () => undefined);
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      yield* flush();
      yield { line: info.lines, record };
    }
  } catch (error) {
    // Only the parser's errors are the manifest's fault; the source's own (a failed read) stay as they are.
    throw error instanceof CsvError ? new ManifestFormatError(error.message, { cause: error }) : error;
  }
  yield* flush();
}
