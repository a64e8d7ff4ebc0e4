import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeferredError, withinWindow } from "#adapters/back-pressure.js";
import {
  grown,
  type IotPacer,
  initialSchedule,
  iotBudget,
  planClaim,
  planCut,
  rateOf,
  type ScheduleStore,
} from "#adapters/iot-budget.js";
import { type IotOperation, realTimer } from "#adapters/iot-quotas.js";
import { ThrottledError } from "#domain/errors.js";
import { InMemoryScheduleStore } from "#test/support/in-memory-schedules.js";

/** Virtual time: Date.now and setTimeout are the fake clock's, so a slot is a number to compare. */
beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

const container = (store: ScheduleStore, priority: "first" | "background" = "first", share = 1) =>
  iotBudget({ store, share, backgroundShare: 0.1, priority });

/** Starts `count` calls of `operation` and records when each was let through (or deferred). */
const callsOf = (pacer: IotPacer, count: number, operation: IotOperation) => {
  const times: number[] = [];
  const deferred: DeferredError[] = [];
  const all = Promise.all(
    Array.from({ length: count }, () =>
      pacer.acquire(operation).then(
        () => times.push(Date.now()),
        (error) => {
          if (!(error instanceof DeferredError)) throw error;
          deferred.push(error);
        },
      ),
    ),
  );
  return { times, deferred, all };
};

const gaps = (times: number[]) => times.slice(1).map((time, i) => time - (times[i] ?? 0));

describe("the deployment's IoT budget", () => {
  it("spaces the calls of every container evenly at the deployment's share of the account quota", async () => {
    const store = new InMemoryScheduleStore();
    const a = callsOf(container(store), 10, "DescribeCertificate");
    const b = callsOf(container(store), 10, "DescribeCertificate");

    await vi.runAllTimersAsync();
    await Promise.all([a.all, b.all]);

    // DescribeCertificate: 10 calls a second per account; all of it here, one every 100 ms.
    const times = [...a.times, ...b.times].sort((x, y) => x - y);
    expect(times).toHaveLength(20);
    for (const gap of gaps(times)) expect(gap).toBeCloseTo(100, 6);
  });

  it("paces at its share: half the account quota spaces the calls 200 ms apart", async () => {
    const calls = callsOf(container(new InMemoryScheduleStore(), "first", 0.5), 5, "UpdateCertificate");
    await vi.runAllTimersAsync();
    await calls.all;
    expect(gaps(calls.times)).toEqual([200, 200, 200, 200]);
  });

  it("asks the store once for all the calls a container has waiting at the same time", async () => {
    const store = new InMemoryScheduleStore();
    const calls = callsOf(container(store), 10, "DescribeCertificate");
    await vi.runAllTimersAsync();
    await calls.all;
    expect(store.writes).toBe(1);
  });

  it("defers a call whose slot would come after its work's window, and takes no slot for it", async () => {
    const store = new InMemoryScheduleStore();
    const pacer = container(store);
    // 10 calls of other records hold the first second.
    const busy = callsOf(pacer, 10, "DescribeCertificate");
    await vi.advanceTimersByTimeAsync(1);

    const late = withinWindow({ startBy: 500, finishBy: 20_000 }, () => pacer.acquire("DescribeCertificate"));
    const outcome = late.then(
      () => undefined,
      (e: unknown) => e,
    );
    await vi.runAllTimersAsync();
    await busy.all;

    const error = await outcome;
    expect(error).toBeInstanceOf(DeferredError);
    expect(error).toBeInstanceOf(ThrottledError);
    expect((error as DeferredError).notBefore).toBe(1000);
    expect(store.items.get("DescribeCertificate")?.next).toBe(1000);
  });

  it("holds a record's later calls to the end of its window, and only its first to the start", async () => {
    const store = new InMemoryScheduleStore();
    const pacer = container(store);
    const busy = callsOf(pacer, 20, "UpdateCertificate");
    await Promise.resolve();
    // The first call of this record may wait 2.5 s, its later ones until 5 s: the second fits.
    const record = withinWindow({ startBy: 2500, finishBy: 5000 }, async () => {
      await pacer.acquire("DescribeCertificate");
      await pacer.acquire("UpdateCertificate");
      return Date.now();
    });
    await vi.runAllTimersAsync();
    await busy.all;
    expect(await record).toBe(2000);
  });

  it("starts a unit of work (an ingest's certificate) only with time left to finish it", async () => {
    const store = new InMemoryScheduleStore();
    const pacer = container(store);
    const busy = callsOf(pacer, 10, "RegisterCertificate");
    await vi.advanceTimersByTimeAsync(1);
    // RegisterCertificate opens a unit: by 500 ms, which the queue of slots has passed; the
    // calls of a unit under way may go on until 5 s.
    const window = { startBy: 500, finishBy: 5000, opensWith: "RegisterCertificate" };
    const opening = withinWindow(window, () => pacer.acquire("RegisterCertificate")).catch((e: unknown) => e);
    const going = withinWindow(window, () => pacer.acquire("DescribeCertificate").then(() => Date.now()));
    await vi.runAllTimersAsync();
    await busy.all;
    expect(await opening).toBeInstanceOf(DeferredError);
    expect(await going).toBeLessThan(5000);
  });

  it("serves first connections first: background work takes one slot per turn while they wait", async () => {
    const store = new InMemoryScheduleStore();
    const first = container(store, "first");
    const background = container(store, "background");
    const firstTimes: number[] = [];
    const backgroundTimes: number[] = [];
    // Twenty first connections in a row keep a queue; background work asks for five calls meanwhile.
    const connections = Array.from({ length: 20 }, async () => {
      for (let i = 0; i < 10; i += 1) {
        await first.acquire("UpdateCertificate");
        firstTimes.push(Date.now());
      }
    });
    const chores = (async () => {
      for (let i = 0; i < 5; i += 1) {
        await background.acquire("UpdateCertificate");
        backgroundTimes.push(Date.now());
      }
    })();

    await vi.runAllTimersAsync();
    await Promise.all([...connections, chores]);

    // 200 + 5 calls at 10 a second: the schedule stays full, and the background's share is a
    // tenth: one call a second while first connections wait, not the half a fair queue would give.
    const all = [...firstTimes, ...backgroundTimes].sort((a, b) => a - b);
    for (const gap of gaps(all)) expect(gap).toBeCloseTo(100, 6);
    expect(backgroundTimes).toHaveLength(5);
    for (const gap of gaps(backgroundTimes)) expect(gap).toBeGreaterThanOrEqual(900);
    expect(Math.max(...backgroundTimes)).toBeLessThan(Math.max(...firstTimes));
  });

  it("lets background work use the whole rate while no first connection waits", async () => {
    const calls = callsOf(container(new InMemoryScheduleStore(), "background"), 10, "UpdateCertificate");
    await vi.runAllTimersAsync();
    await calls.all;
    expect(calls.times.at(-1)).toBeCloseTo(900, 6);
  });

  it("cuts the rate once for all the calls granted before a throttle, for every container", async () => {
    const store = new InMemoryScheduleStore();
    const pacer = container(store);
    const granted = Promise.all([pacer.acquire("DescribeCertificate"), pacer.acquire("DescribeCertificate")]);
    await vi.runAllTimersAsync();

    await Promise.all((await granted).map((grant) => grant.throttled()));

    const schedule = store.items.get("DescribeCertificate");
    expect(schedule?.epoch).toBe(1);
    expect(schedule?.rate).toBeCloseTo(8, 6);
    // Another container's next calls come at the cut rate, after IoT Core's bucket had a slot to refill.
    const other = callsOf(container(store), 2, "DescribeCertificate");
    await vi.runAllTimersAsync();
    await other.all;
    expect(gaps(other.times)[0]).toBeGreaterThan(100);
  });

  it("fails the waiting calls when the schedule's store fails: an outage of ours, not back-pressure", async () => {
    const broken: ScheduleStore = {
      swap: async () => {
        throw new Error("DynamoDB is down");
      },
    };
    const call = container(broken).acquire("DescribeCertificate");
    const outcome = call.catch((error: unknown) => error);
    await vi.runAllTimersAsync();
    const error = await outcome;
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(DeferredError);
    expect((error as Error).message).toBe("DynamoDB is down");
  });

  it("answers each call outside any work window within a bounded wait", async () => {
    const store = new InMemoryScheduleStore();
    const pacer = iotBudget({ store, share: 1, backgroundShare: 0.1, priority: "first", maxWaitMs: 1000 });
    const calls = callsOf(pacer, 15, "DescribeCertificate");
    await vi.runAllTimersAsync();
    await calls.all;
    expect(calls.times).toHaveLength(11);
    expect(calls.deferred).toHaveLength(4);
  });
});

describe("the budget's clock", () => {
  it("waits a fraction of a millisecond as a whole one, so that a wait for a slot lets time move", async () => {
    let woke = false;
    void realTimer.sleep(0.26).then(() => {
      woke = true;
    });

    // Fake timers (the herd's, these) fire a timer of 0.26 ms at once: a background container
    // waiting for its turn claimed again at the same instant, forever, and the herd hung.
    await vi.advanceTimersByTimeAsync(0);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(woke).toBe(true);
  });
});

describe("the schedule's arithmetic", () => {
  const limits = { ceiling: 10, backgroundShare: 0.1 };

  it("grants consecutive slots, earliest deadline first, and none past a request's latest", () => {
    const plan = planClaim(
      { ...initialSchedule(limits, 0), next: 1000 },
      { now: 0, priority: "first", latests: [1000, 1050, 5000, 5000] },
      limits,
    );
    expect(plan.slots).toEqual([1000, undefined, 1100, 1200]);
    expect(plan.state.next).toBe(1300);
    expect(plan.notBefore).toBe(1300);
  });

  it("cuts by a fifth and grows back by what IoT Core serves: a second's worth of served calls adds a tenth of the ceiling", () => {
    const cut = planCut(initialSchedule(limits, 0), 0, 0, limits);
    if (!cut) throw new Error("no cut");
    expect(rateOf(cut, limits)).toBeCloseTo(8, 6);
    expect(grown(cut, 8, limits, 1000)).toBeCloseTo(9, 6);
    expect(grown(cut, 1000, limits, 1000)).toBe(10);
  });

  it("doubles the rate with each second of served calls once no throttle came for five seconds", () => {
    const low = { ...initialSchedule(limits, 0), rate: 4, cutAt: 0 };
    // A second's worth of served calls (4) four seconds after the cut: a tenth of the ceiling more.
    expect(grown(low, 4, limits, 4_000)).toBeCloseTo(5, 6);
    // Six seconds after it: twice the rate.
    expect(grown(low, 4, limits, 6_000)).toBeCloseTo(8, 6);
  });

  it("keeps the rate at its floor while the quota stays taken: waiting grows nothing, only served calls do", () => {
    let state = initialSchedule(limits, 0);
    for (let i = 0; i < 100; i += 1) state = planCut(state, i * 60_000, state.epoch, limits) ?? state;
    expect(rateOf(state, limits)).toBeCloseTo(0.5, 6);
    const plan = planClaim(state, { now: 3_600_000, priority: "first", latests: [4_000_000] }, limits);
    expect(plan.state.rate).toBeCloseTo(0.5, 6);
  });

  it("ignores a throttle of a call granted before the last cut", () => {
    const cut = planCut(initialSchedule(limits, 0), 0, 0, limits);
    if (!cut) throw new Error("no cut");
    expect(planCut(cut, 10, 0, limits)).toBeUndefined();
  });
});
