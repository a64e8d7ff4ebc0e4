import { ValidationError } from "#domain/errors.js";

/**
 * A cursor over a walk made of steps (a query per device state, a listing of Things), each paged
 * with its own cursor: which step, and where in it. Opaque to callers; a cursor that is not one of
 * this walk is their mistake, answered as one.
 */
export interface WalkPosition {
  readonly step: number;
  readonly inner?: string;
}

const MAX_INNER = 4096;

export const encodeWalkCursor = (walk: string, position: WalkPosition): string =>
  Buffer.from(
    JSON.stringify({ w: walk, s: position.step, ...(position.inner ? { c: position.inner } : {}) }),
  ).toString("base64url");

export const decodeWalkCursor = (walk: string, steps: number, cursor: string | undefined): WalkPosition => {
  if (cursor === undefined) return { step: 0 };
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid("is not a cursor");
  }
  const { w, s, c } = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const fits =
    w === walk &&
    Number.isInteger(s) &&
    (s as number) >= 0 &&
    (s as number) < steps &&
    (c === undefined || (typeof c === "string" && c.length > 0 && c.length <= MAX_INNER));
  if (!fits) throw invalid(`is not a cursor of ${walk}`);
  return { step: s as number, ...(c ? { inner: c as string } : {}) };
};

const invalid = (why: string) => new ValidationError("invalid cursor", [`cursor: ${why}`]);
