import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FirstSeenIndex } from "#app/first-seen-index.js";

describe("FirstSeenIndex", () => {
  it("answers like a Map of first lines, through every growth", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.nat({ max: 2 ** 32 - 1 })), {
          maxLength: 3000,
        }),
        (entries) => {
          const index = new FirstSeenIndex();
          const expected = new Map<number, number>();
          for (const [hash, line] of entries) {
            if (!expected.has(hash)) {
              expected.set(hash, line);
              index.set(hash, line);
            }
          }
          for (const [hash, line] of expected) expect(index.get(hash)).toBe(line);
          expect(index.get(2 ** 48)).toBeUndefined();
        },
      ),
      { numRuns: 50 },
    );
  });

  it("tells apart hashes that share their low bits", () => {
    const index = new FirstSeenIndex();
    index.set(5, 1);
    index.set(5 + 1024, 2);
    index.set(5 + 2048, 3);
    expect([index.get(5), index.get(5 + 1024), index.get(5 + 2048), index.get(5 + 4096)]).toEqual([
      1,
      2,
      3,
      undefined,
    ]);
  });
});
