/**
 * Time as the dispatcher's scheduling sees it: injected, so that tests drive the lanes without
 * real time (test/unit/lanes.test.ts uses a fake one).
 */
export interface Clock {
  /** Milliseconds, monotonic enough for scheduling (Date.now() here, a counter in tests). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Sleeps that a nudge can end early: every wakeable sleep started before a nudge ends at the
 * nudge; a sleep asked for after a nudge the caller has not seen yet (its `seenSeq` is older)
 * returns at once, so that no wake-up is lost between a check and the sleep.
 */
export interface Waker {
  /** Increases with every nudge; pass the value read before looking for work to sleep(). */
  readonly seq: number;
  nudge(): void;
  /** Sleeps `ms` (0 or less: returns at once), or until a nudge when `wakeable`. */
  sleep(ms: number, opts: { seenSeq: number; wakeable: boolean }): Promise<void>;
  /** Ends every sleep (on stop). */
  wakeAll(): void;
}

export function createWaker(clock: Clock): Waker {
  let seq = 0;
  const wakeable = new Set<() => void>();
  const all = new Set<() => void>();
  return {
    get seq() {
      return seq;
    },
    nudge() {
      seq++;
      for (const wake of [...wakeable]) wake();
    },
    sleep(ms, opts) {
      if (ms <= 0 || (opts.wakeable && opts.seenSeq !== seq)) return Promise.resolve();
      return new Promise((resolve) => {
        const wake = () => {
          clock.clearTimeout(timer);
          wakeable.delete(wake);
          all.delete(wake);
          resolve();
        };
        const timer = clock.setTimeout(wake, ms);
        all.add(wake);
        if (opts.wakeable) wakeable.add(wake);
      });
    },
    wakeAll() {
      seq++;
      for (const wake of [...all]) wake();
    },
  };
}
