import FakeTimers from "@sinonjs/fake-timers";

/**
 * Virtual time for the herd simulation: @sinonjs/fake-timers drives Date, setTimeout/setInterval and
 * performance.now, so an hour of IoT quota passes in the seconds the code takes to run. Between two
 * timers the driver lets everything that is not a timer settle first: promise chains, setImmediate,
 * and WebCrypto's work on libuv's threads (the X.509 verification), which it counts in flight, so
 * virtual time never jumps while real work is still under way.
 */
const realSetImmediate = globalThis.setImmediate;
const realSetTimeout = globalThis.setTimeout;
let cryptoInFlight = 0;

/** Real asynchronous work (a container's import) that virtual time must wait for. */
export const realWork = <T>(work: Promise<T>): Promise<T> => {
  cryptoInFlight += 1;
  return work.finally(() => {
    cryptoInFlight -= 1;
  });
};

const trackWebCrypto = () => {
  const subtle = Object.getPrototypeOf(globalThis.crypto.subtle) as Record<string, unknown>;
  for (const name of ["verify", "sign", "digest", "importKey", "exportKey", "generateKey", "deriveBits"]) {
    const original = subtle[name];
    if (typeof original !== "function" || (original as { tracked?: boolean }).tracked) continue;
    const tracked = function (this: unknown, ...args: unknown[]) {
      cryptoInFlight += 1;
      return (original as (...a: unknown[]) => Promise<unknown>).apply(this, args).finally(() => {
        cryptoInFlight -= 1;
      });
    };
    (tracked as { tracked?: boolean }).tracked = true;
    subtle[name] = tracked;
  }
};

const yieldReally = () => new Promise<void>((resolve) => realSetImmediate(resolve));

export interface VirtualTime {
  readonly clock: FakeTimers.InstalledClock;
  now(): number;
  /** Lets promise chains, immediates and WebCrypto finish before time moves on. */
  settle(): Promise<void>;
  /** Runs timers in order until `done()`; `onStep` is called every `every` timers. */
  run(done: () => boolean, onStep?: () => void, every?: number): Promise<void>;
  uninstall(): void;
}

export const installVirtualTime = (start: number): VirtualTime => {
  trackWebCrypto();
  const clock = FakeTimers.install({
    now: start,
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"],
    loopLimit: 1e12,
  });
  const settle = async () => {
    do {
      await yieldReally();
      await yieldReally();
    } while (cryptoInFlight > 0);
  };
  return {
    clock,
    now: () => clock.now,
    settle,
    async run(done, onStep, every = 5000) {
      for (let step = 1; ; step += 1) {
        await settle();
        if (done()) return;
        if (onStep && step % every === 0) onStep();
        if (clock.countTimers() === 0) {
          await new Promise((resolve) => realSetTimeout(resolve, 5));
          await settle();
          if (clock.countTimers() === 0 && !done()) throw new Error("simulation stalled: nothing scheduled");
          continue;
        }
        clock.next();
      }
    },
    uninstall: () => clock.uninstall(),
  };
};

/** A virtual sleep (the faked setTimeout). */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
