import { describe, expect, it } from "vitest";
import type { ScheduleState, ScheduleStore } from "#adapters/iot-budget.js";

/**
 * What every store of the IoT budget's schedules promises: run against the in-memory one the unit
 * tests and the herd simulation use, against DynamoDB on moto, and against the deployed table on
 * ministack, so they cannot drift apart. moto's server runs requests on threads without locking
 * an item, so two conditional writes at once can both pass there (DynamoDB never lets them): that
 * one promise is checked on the others only.
 */
export const scheduleStoreContract = (
  name: string,
  makeStore: () => Promise<ScheduleStore>,
  { atomicConditionalWrites = true }: { readonly atomicConditionalWrites?: boolean } = {},
) => {
  let sequence = 0;
  const operation = () => {
    sequence += 1;
    return `Op${Date.now().toString(36)}${sequence}`;
  };
  const schedule = (version: number, next = 1_000 * version): ScheduleState => ({
    next,
    backgroundNext: 500,
    rate: 9.5,
    cutAt: 250,
    epoch: 2,
    version,
  });

  describe(`schedule store (${name})`, () => {
    it("creates a schedule that does not exist yet", async () => {
      const store = await makeStore();
      expect(await store.swap(operation(), undefined, schedule(1))).toEqual({ swapped: true });
    });

    it("refuses to create one that exists, and answers it as stored", async () => {
      const store = await makeStore();
      const op = operation();
      await store.swap(op, undefined, schedule(1, 1234.5));
      expect(await store.swap(op, undefined, schedule(1, 99))).toEqual({
        swapped: false,
        current: schedule(1, 1234.5),
      });
    });

    it("writes over the version it read, and only over it", async () => {
      const store = await makeStore();
      const op = operation();
      await store.swap(op, undefined, schedule(1));
      expect(await store.swap(op, schedule(1), schedule(2))).toEqual({ swapped: true });
      expect(await store.swap(op, schedule(1), schedule(2, 7))).toEqual({
        swapped: false,
        current: schedule(2),
      });
    });

    it.runIf(atomicConditionalWrites)("lets one of two writers over the same version win", async () => {
      const store = await makeStore();
      const op = operation();
      await store.swap(op, undefined, schedule(1));
      const results = await Promise.all([
        store.swap(op, schedule(1), schedule(2, 10)),
        store.swap(op, schedule(1), schedule(2, 20)),
      ]);
      expect(results.filter((r) => r.swapped)).toHaveLength(1);
    });

    it("answers that none is stored when one is expected and there is none", async () => {
      const store = await makeStore();
      expect(await store.swap(operation(), schedule(1), schedule(2))).toEqual({
        swapped: false,
        current: undefined,
      });
    });
  });
};
