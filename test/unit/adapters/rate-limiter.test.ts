import { describe, expect, it } from "vitest";
import { type Timer, tokenBucket } from "#adapters/rate-limiter.js";

/** A clock that only moves when someone sleeps: the limiter's pacing becomes exact arithmetic. */
const virtualTimer = (): Timer & { elapsed: () => number } => {
  let now = 0;
  return {
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    elapsed: () => now,
  };
};

const timesOfCalls = async (
  limiter: { acquire(): Promise<void> },
  timer: { now(): number },
  calls: number,
) => {
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: calls }, () => limiter.acquire().then(() => times.push(timer.now()))),
  );
  return times;
};

describe("tokenBucket", () => {
  it("lets a burst through at once, then paces calls at the rate", async () => {
    const timer = virtualTimer();
    const times = await timesOfCalls(tokenBucket(5, 5, timer), timer, 15);
    expect(times.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    // 10 more calls at 5 per second take 2 seconds.
    expect(times.at(-1)).toBeCloseTo(2000, 0);
    for (let i = 6; i < times.length; i += 1)
      expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeCloseTo(200, 0);
  });

  it("refuses a rate that is not positive", () => {
    expect(() => tokenBucket(0)).toThrow(RangeError);
  });
});
