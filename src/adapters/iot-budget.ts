import { ThrottledError } from "#domain/errors.js";
import { call } from "./aws-errors.js";
import { currentWindow, DeferredError, latestStart, withinWindow } from "./back-pressure.js";
import { IOT_QUOTAS, type IotOperation, realTimer, type Timer } from "./iot-quotas.js";

/**
 * One budget of IoT Core calls for the whole deployment. Every function, in every container, takes
 * each paced call's slot from one schedule per IoT operation, kept in a small item of the lifecycle
 * table: slots are spaced 1/rate apart on the wall clock, so calls of any number of containers
 * reach IoT Core evenly, with no burst to absorb. The rate is the deployment's share of the account
 * quota at most, and adapts (AIMD): a throttled call cuts it by a tenth (once for all the calls
 * granted at the old rate), and calls IoT Core serves grow it back linearly, so it probes for what
 * other callers of the account leave. Only served calls grow it: a quota taken for an hour keeps
 * the rate at its floor, however long the calls wait.
 *
 * First connections are served first: background work (pre-registration, recalls, operator actions)
 * takes slots freely while no first connection waits, and otherwise one slot per turn at its
 * share of the rate. A caller that cannot get a slot within its work's window (see back-pressure.ts)
 * gets a DeferredError saying when the schedule can serve it: the work is re-queued, not failed.
 */
export type Priority = "first" | "background";

/** One operation's schedule, as stored. Times are epoch ms. */
export interface ScheduleState {
  /** The next free slot. */
  readonly next: number;
  /** When background work may take its next slot while first connections wait. */
  readonly backgroundNext: number;
  /** Calls per second now. */
  readonly rate: number;
  /** When a throttle last cut the rate. */
  readonly cutAt: number;
  /** Counts cuts: a throttle of a call granted before the last cut is old news. */
  readonly epoch: number;
  /** Counts writes: every write is conditional on the version it read. */
  readonly version: number;
}

/** Where the schedules live: one item per operation, written only if unchanged since read. */
export interface ScheduleStore {
  /**
   * Writes `next` if the stored schedule is still `expected` (by version; undefined: none stored).
   * Otherwise answers the schedule as it is now.
   */
  swap(
    operation: string,
    expected: ScheduleState | undefined,
    next: ScheduleState,
  ): Promise<{ swapped: true } | { swapped: false; current: ScheduleState | undefined }>;
}

export interface ScheduleLimits {
  /** Calls per second at most: the deployment's share of the account's quota. */
  readonly ceiling: number;
  /** Share of the rate background work may always take while first connections wait. */
  readonly backgroundShare: number;
}

// A throttle cuts the rate by a fifth; a few cuts in a row (each needs a throttle of a call granted
// after the last) reach what is free.
const CUT = 0.8;
// Served calls grow the rate by this share of the ceiling per second of them: from a cut at the
// ceiling back to it in two seconds of calls served.
const PROBE_PER_SECOND = 0.1;
// Once no throttle has cut it for this long, served calls double the rate every second of them (up
// to the ceiling): after a long outage it is back in seconds, not minutes.
const SLOW_START_AFTER_MS = 5_000;
// It never falls below this share of the ceiling: a quota taken for an hour is probed every other
// second, so the first call that gets through finds it back.
const FLOOR = 0.05;

export const initialSchedule = (limits: ScheduleLimits, now: number): ScheduleState => ({
  next: now,
  backgroundNext: now,
  rate: limits.ceiling,
  cutAt: now,
  epoch: 0,
  version: 0,
});

/** The schedule's rate, within its floor and the ceiling (which a deployment may have changed). */
export const rateOf = (state: ScheduleState, limits: ScheduleLimits): number =>
  Math.min(limits.ceiling, Math.max(limits.ceiling * FLOOR, state.rate));

/**
 * The rate grown by `served` calls IoT Core answered (not throttled) since it was last written: as
 * many served calls as the rate makes in a second grow it by the probe's step, or double it when
 * no throttle came for a while.
 */
export const grown = (state: ScheduleState, served: number, limits: ScheduleLimits, now: number): number => {
  const rate = rateOf(state, limits);
  const step = Math.max(
    (limits.ceiling * PROBE_PER_SECOND) / rate,
    now - state.cutAt >= SLOW_START_AFTER_MS ? 1 : 0,
  );
  return Math.min(limits.ceiling, rate + step * served);
};

export interface ClaimPlan {
  /** Per request, in the order given: its slot, or undefined. */
  readonly slots: readonly (number | undefined)[];
  /** The schedule to write when a slot was taken (`changed`). */
  readonly state: ScheduleState;
  readonly changed: boolean;
  /** The first slot left after these: what a refused request waits for at least. */
  readonly notBefore: number;
  /** Background work whose turn has not come: try again then. */
  readonly retryAt?: number;
}

/**
 * Slots for calls of one operation, each request with the latest time it can use (ascending):
 * consecutive slots from the next free one, earliest deadline first; a request whose slot would
 * come after its latest gets none, and takes none.
 */
export const planClaim = (
  state: ScheduleState,
  request: {
    now: number;
    priority: Priority;
    latests: readonly number[];
    /** The first slot the caller can still use on time (now and the write's round trip). */
    earliest?: number;
    /** Calls IoT Core served since this caller last wrote the schedule. */
    served?: number;
  },
  limits: ScheduleLimits,
): ClaimPlan => {
  const { now } = request;
  const rate = grown(state, request.served ?? 0, limits, now);
  const interval = 1000 / rate;
  const start = Math.max(request.earliest ?? now, state.next);
  let room = request.latests.length;
  let backgroundNext = state.backgroundNext;
  let retryAt: number | undefined;
  if (request.priority === "background" && start > now + interval) {
    // First connections are queued: background work takes one slot per turn, at its share.
    if (state.backgroundNext > now) {
      return {
        slots: request.latests.map(() => undefined),
        state,
        changed: false,
        notBefore: start,
        retryAt: state.backgroundNext,
      };
    }
    room = 1;
    backgroundNext = now + interval / limits.backgroundShare;
    retryAt = backgroundNext;
  }
  const slots: (number | undefined)[] = [];
  let taken = 0;
  for (const latest of request.latests) {
    const slot = start + taken * interval;
    if (taken < room && slot <= latest) {
      slots.push(slot);
      taken += 1;
    } else slots.push(undefined);
  }
  const next = start + taken * interval;
  return {
    slots,
    state: taken === 0 ? state : { ...state, next, backgroundNext, rate, version: state.version + 1 },
    changed: taken > 0,
    notBefore: next,
    ...(retryAt !== undefined ? { retryAt } : {}),
  };
};

/**
 * A throttle of a call granted under `epoch`: cut the rate, unless a cut came since that call was
 * granted; and let IoT Core's bucket refill one slot's worth before the next.
 */
export const planCut = (
  state: ScheduleState,
  now: number,
  epoch: number,
  limits: ScheduleLimits,
): ScheduleState | undefined => {
  if (epoch !== state.epoch) return undefined;
  const rate = Math.max(limits.ceiling * FLOOR, rateOf(state, limits) * CUT);
  return {
    ...state,
    next: Math.max(state.next, now + 1000 / rate),
    rate,
    cutAt: now,
    epoch: state.epoch + 1,
    version: state.version + 1,
  };
};

/** A granted slot; its call's outcome is reported through it. */
export interface Grant {
  /** IoT Core answered the call (whatever it said) without throttling it. */
  served(): void;
  /** IoT Core throttled the call: answers whether to try it again (with a new slot). */
  throttled(): Promise<boolean>;
}

/** Paces IoT calls: waits for the call's slot, or throws a DeferredError. */
export interface IotPacer {
  acquire(operation: IotOperation): Promise<Grant>;
  /** Runs `work` in the running work's window, or in one of its own when there is none. */
  within<T>(work: () => Promise<T>): Promise<T>;
}

export interface IotBudgetOptions {
  readonly store: ScheduleStore;
  /** The deployment's share of the account's quotas (1 = all of it). */
  readonly share: number;
  /** Share of the rate background work may always take while first connections wait. */
  readonly backgroundShare: number;
  readonly priority: Priority;
  readonly timer?: Timer;
  /** How long a call outside any work window may wait for its slot (ms). */
  readonly maxWaitMs?: number;
  readonly quotas?: Readonly<Record<IotOperation, number>>;
}

// Conditional writes lost to other containers in a row before the work is deferred instead.
const MAX_SWAPS = 20;
// A slot is planned at most this far ahead of now for the store's round trip.
const MAX_LEAD_MS = 200;

interface Waiter {
  readonly latest: number;
  grant(slot: number, epoch: number): void;
  refuse(notBefore: number): void;
  fail(error: unknown): void;
}

/** This container's side of one operation's schedule: waiting calls share one conditional write. */
class OperationSchedule {
  private cached: ScheduleState | undefined;
  private waiting: Waiter[] = [];
  private pumping = false;
  // The store's round trip (ms, smoothed): a slot is planned no sooner than the write can land and
  // be answered, or its call would go out late and crowd the next container's.
  private roundTrip = 0;
  // Calls served since this container last wrote the schedule: they grow the rate at its next write.
  private served = 0;

  constructor(
    private readonly operation: IotOperation,
    private readonly limits: ScheduleLimits,
    private readonly options: IotBudgetOptions & { timer: Timer },
  ) {}

  countServed(): void {
    this.served += 1;
  }

  acquire(latest: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push({
        latest,
        grant: (slot, epoch) => {
          // Never early: a timer may round a fraction of a millisecond down.
          const wait = Math.ceil(slot - this.options.timer.now());
          const granted = () => resolve(epoch);
          if (wait > 0) this.options.timer.sleep(wait).then(granted, reject);
          else granted();
        },
        refuse: (notBefore) =>
          reject(
            new DeferredError(
              `${this.operation}: no slot of the IoT budget before ${new Date(latest).toISOString()} (next at ${new Date(notBefore).toISOString()})`,
              notBefore,
            ),
          ),
        fail: reject,
      });
      void this.pump();
    });
  }

  async cut(epoch: number): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_SWAPS; attempt += 1) {
      const now = this.options.timer.now();
      const next = planCut(this.cached ?? initialSchedule(this.limits, now), now, epoch, this.limits);
      if (!next || (await this.swap(next))) break;
    }
    return true;
  }

  private async swap(next: ScheduleState): Promise<boolean> {
    const expected = this.cached;
    const sent = this.options.timer.now();
    const result = await this.options.store.swap(this.operation, expected, next);
    this.roundTrip = 0.8 * this.roundTrip + 0.2 * (this.options.timer.now() - sent);
    if (result.swapped) {
      // Another write of ours may have landed meanwhile: keep the newer.
      if (!this.cached || this.cached.version <= next.version) this.cached = next;
      return true;
    }
    this.cached = result.current;
    return false;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      // Calls that come at once (a batch's records reaching the same step) share one claim.
      await this.options.timer.sleep(0);
      while (this.waiting.length > 0) {
        const waiters = this.waiting.splice(0).sort((a, b) => a.latest - b.latest);
        try {
          await this.claim(waiters);
        } catch (error) {
          // The schedule's store failed (an outage, a missing grant): a failure like any other.
          for (const waiter of waiters) waiter.fail(error);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private async claim(waiters: Waiter[]): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      const now = this.options.timer.now();
      const plan = planClaim(
        this.cached ?? initialSchedule(this.limits, now),
        {
          now,
          priority: this.options.priority,
          latests: waiters.map((w) => w.latest),
          earliest: now + Math.min(MAX_LEAD_MS, 2 * this.roundTrip),
          served: this.served,
        },
        this.limits,
      );
      const served = this.served;
      if (plan.changed && !(await this.swap(plan.state))) {
        if (attempt < MAX_SWAPS) continue;
        for (const waiter of waiters) waiter.refuse(now + 1000);
        return;
      }
      if (plan.changed) this.served -= served;
      waiters.forEach((waiter, index) => {
        const slot = plan.slots[index];
        if (slot !== undefined) waiter.grant(slot, plan.state.epoch);
        else if (plan.retryAt !== undefined && plan.retryAt <= waiter.latest)
          this.later(waiter, plan.retryAt);
        else waiter.refuse(Math.max(plan.retryAt ?? 0, plan.notBefore));
      });
      return;
    }
  }

  private later(waiter: Waiter, at: number): void {
    this.options.timer.sleep(Math.max(0, at - this.options.timer.now())).then(() => {
      this.waiting.push(waiter);
      void this.pump();
    });
  }
}

/**
 * This container's pacer over the deployment's IoT budget, for one kind of work (`priority`). Each
 * call waits for its slot; one that cannot have a slot within its work's window (or, outside any
 * window, within `maxWaitMs`) throws a DeferredError.
 */
export const iotBudget = (options: IotBudgetOptions): IotPacer => {
  const timer = options.timer ?? realTimer;
  const quotas = options.quotas ?? IOT_QUOTAS;
  const maxWaitMs = options.maxWaitMs ?? 10_000;
  if (!(options.share > 0)) throw new RangeError(`share must be positive, got ${options.share}`);
  if (!(options.backgroundShare > 0 && options.backgroundShare <= 1))
    throw new RangeError(`background share must be in (0, 1], got ${options.backgroundShare}`);
  const schedules = new Map<IotOperation, OperationSchedule>();
  const scheduleOf = (operation: IotOperation) => {
    let schedule = schedules.get(operation);
    if (!schedule) {
      schedule = new OperationSchedule(
        operation,
        { ceiling: quotas[operation] * options.share, backgroundShare: options.backgroundShare },
        { ...options, timer },
      );
      schedules.set(operation, schedule);
    }
    return schedule;
  };
  return {
    async acquire(operation) {
      const schedule = scheduleOf(operation);
      const epoch = await schedule.acquire(latestStart(timer.now() + maxWaitMs, operation));
      return {
        served: () => {
          schedule.countServed();
          // The work has started once IoT Core served its first call: a first call throttled
          // again and again waits no longer than the start of the window allows.
          const window = currentWindow();
          if (window) window.started = true;
        },
        throttled: () => schedule.cut(epoch),
      };
    },
    within(work) {
      if (currentWindow()) return work();
      const latest = timer.now() + maxWaitMs;
      return withinWindow({ startBy: latest, finishBy: latest }, work);
    },
  };
};

/** Whether an error is IoT Core's throttling (which the budget answers) rather than a failure. */
export const isThrottling = (error: unknown): boolean =>
  error instanceof ThrottledError && !(error instanceof DeferredError);

/**
 * Runs one IoT call in its slot of the budget (or at once without a pacer), its AWS error
 * translated: a call IoT Core throttles anyway is reported (the budget slows down) and, while the
 * budget says so, tried again in a new slot.
 */
export const pacedCall = <T>(
  pacer: IotPacer | undefined,
  operation: IotOperation,
  run: () => Promise<T>,
): Promise<T> => {
  if (!pacer) return call(operation, run);
  return pacer.within(async () => {
    for (;;) {
      const grant = await pacer.acquire(operation);
      try {
        const answer = await call(operation, run);
        grant.served();
        return answer;
      } catch (error) {
        if (!isThrottling(error)) {
          grant.served();
          throw error;
        }
        if (!(await grant.throttled())) throw error;
      }
    }
  });
};
