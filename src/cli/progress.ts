/** Time as the long commands see it: injected so tests need not wait. */
export interface Clock {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Progress lines of one piece of long work (an upload, an ingest wait), each with the time since
 * it began, at most one per interval unless it is the last; nothing when `write` is absent.
 */
export const progressLines = (
  write: ((text: string) => void) | undefined,
  clock: Clock,
  intervalMs = 2_000,
): ((text: string, last?: boolean) => void) => {
  const started = clock.now();
  let shown = Number.NEGATIVE_INFINITY;
  return (text, last = false) => {
    const now = clock.now();
    if (!write || (!last && now - shown < intervalMs)) return;
    shown = now;
    write(`fleetgate: ${text} (${seconds(now - started)})`);
  };
};

const seconds = (ms: number): string =>
  ms < 60_000
    ? `${Math.round(ms / 1000)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.floor((ms % 60_000) / 1000)} s`;

export const megabytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
