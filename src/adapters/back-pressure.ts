import { AsyncLocalStorage } from "node:async_hooks";
import { ThrottledError } from "#domain/errors.js";

/**
 * The time a piece of work (one SQS record, one ingest) has: no paced IoT call may be granted for
 * later than the window allows. A record's first call must come by `startBy`, so that one which
 * starts has the rest of the invocation to finish; every later call by `finishBy`. The window
 * travels with the work through the use case (AsyncLocalStorage), so no port has to carry it.
 */
export interface WorkWindow {
  /** Epoch ms: the latest time for the work's first paced call. */
  readonly startBy: number;
  /** Epoch ms: the latest time for any of its paced calls. */
  readonly finishBy: number;
  /**
   * For work made of units one after the other (an ingest's certificates): the IoT operation that
   * opens a unit. Each call of it must come by `startBy`, every other call by `finishBy`, so a unit
   * is started only with time left to finish it.
   */
  readonly opensWith?: string;
  /** Set once IoT Core served the work's first paced call. */
  started: boolean;
}

const windows = new AsyncLocalStorage<WorkWindow>();

/**
 * The window of an invocation with `remainingMs` left: every call before `reserveMs` from its end,
 * the first within `startShare` of the time before that.
 */
export const invocationWindow = (
  now: number,
  remainingMs: number,
  options: { reserveMs: number; startShare: number },
): { startBy: number; finishBy: number } => {
  const finishBy = now + remainingMs - options.reserveMs;
  return { startBy: now + (finishBy - now) * options.startShare, finishBy };
};

/** Runs `work` within its own window. */
export const withinWindow = <T>(
  window: { startBy: number; finishBy: number; opensWith?: string },
  work: () => Promise<T>,
) => windows.run({ ...window, finishBy: Math.max(window.startBy, window.finishBy), started: false }, work);

/** The window of the work running now, if any. */
export const currentWindow = (): WorkWindow | undefined => windows.getStore();

/**
 * The latest time the running work's next paced call (of `operation`) may be granted for, or
 * `fallback` outside a window.
 */
export const latestStart = (fallback: number, operation?: string): number => {
  const window = windows.getStore();
  if (!window) return fallback;
  if (window.opensWith !== undefined)
    return operation === window.opensWith ? window.startBy : window.finishBy;
  return window.started ? window.finishBy : window.startBy;
};

/**
 * Back-pressure: IoT Core's quota (ours or the account's) cannot serve this work within its window.
 * Nothing failed and nothing is wrong with the device: the work is to be done again, from the start
 * (every step is idempotent), not before `notBefore`. A throttling error, so whatever does not know
 * back-pressure still sees it as transient.
 */
export class DeferredError extends ThrottledError {
  constructor(
    message: string,
    /** Epoch ms before which trying again cannot be served. */
    readonly notBefore: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// Re-queued work waits at least this long, doubling with each deferral up to the cap: a quota taken
// for an hour costs a device a few re-queues, not a storm of them.
const FIRST_DELAY_SECONDS = 2;
const MAX_BACKOFF_SECONDS = 300;
// SQS's limit for DelaySeconds.
export const MAX_DELAY_SECONDS = 900;

/**
 * How long a deferred piece of work waits before it is tried again: until the quota can serve it,
 * and at least a backoff that doubles with each deferral; spread by a random fifth so that work
 * deferred together does not come back together.
 */
export const deferralDelaySeconds = (
  notBefore: number,
  now: number,
  deferrals: number,
  random: () => number = Math.random,
): number => {
  const backoff = Math.min(MAX_BACKOFF_SECONDS, FIRST_DELAY_SECONDS * 2 ** Math.max(0, deferrals));
  const wait = Math.max(backoff, (notBefore - now) / 1000);
  return Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.ceil(wait * (1 + random() / 5))));
};
