import { EXIT, type Failure } from "./failures.js";

// C0 and C1 controls and DEL (terminal escape sequences, line breaks that forge rows), the
// bidirectional marks and overrides that reorder what is shown, and the backslash, so an escape
// cannot be forged either.
const unprintable = (code: number): boolean =>
  code < 0x20 ||
  (code >= 0x7f && code <= 0x9f) ||
  code === 0x200e ||
  code === 0x200f ||
  (code >= 0x2028 && code <= 0x202e) ||
  (code >= 0x2066 && code <= 0x2069) ||
  code === 0x5c;

const SHORT_ESCAPES: Record<number, string> = { 9: "\\t", 10: "\\n", 13: "\\r", 92: "\\\\" };

/**
 * What devices and operators sent, as a terminal may show it: stored as sent, printed with every
 * character that a terminal would act on escaped (\x1b, \u202e). JSON output has JSON's escaping.
 */
export const printable = (text: string): string => {
  let shown = "";
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    if (!unprintable(code)) shown += character;
    else if (code in SHORT_ESCAPES) shown += SHORT_ESCAPES[code];
    else if (code <= 0xff) shown += `\\x${code.toString(16).padStart(2, "0")}`;
    else shown += `\\u${code.toString(16).padStart(4, "0")}`;
  }
  return shown;
};

/**
 * JSON as the terminal gets it: JSON escapes C0 controls itself; DEL, C1 controls and
 * bidirectional marks (only ever inside strings) become \u escapes, and the JSON stays the same.
 */
export const printableJson = (value: unknown): string => {
  let shown = "";
  for (const character of JSON.stringify(value, null, 2)) {
    const code = character.codePointAt(0) ?? 0;
    shown += code >= 0x7f && unprintable(code) ? `\\u${code.toString(16).padStart(4, "0")}` : character;
  }
  return shown;
};

/** One value of the readable output: absent as "-", anything else printable. */
export const show = (value: unknown): string =>
  value === undefined || value === null
    ? "-"
    : printable(typeof value === "object" ? JSON.stringify(value) : String(value));

/**
 * A failure on stderr: `{"error": {...}}` with --json, else one line naming the request (and the
 * API's field errors and a hint below it). Everything the API sent is shown printable.
 */
export const formatFailure = (failure: Failure, json: boolean): string => {
  if (json) return printableJson({ error: { ...failure, exitCode: EXIT[failure.kind] } });
  const request =
    failure.status !== undefined && failure.url ? ` (${failure.method ?? "request"} ${failure.url})` : "";
  const problem = failure.problem as { errors?: unknown } | undefined;
  const errors = Array.isArray(problem?.errors) ? problem.errors.map((e) => `\n  ${show(e)}`).join("") : "";
  const hint = failure.hint ? `\n  ${failure.hint}` : "";
  return `fleetgate: ${printable(failure.message)}${printable(request)}${errors}${hint}`;
};
