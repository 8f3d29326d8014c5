import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
import { createWaker, type Clock } from './clock';
import type { WakeGate } from './wake-gate';

// The dispatcher's scheduling: one lane per subscription this process serves. A lane holds its
// subscription's lease (renewed in the background), runs rounds while they find work, and otherwise
// sleeps until a nudge, the fallback poll, its earliest parked retry, or the end of a back-off.
// No database and no real time here (both injected): test/unit/lanes.test.ts drives it.

/** One round of a subscription's work, as its runner reports it. */
export interface Round {
  /** Events read or retried: 0 means nothing to do. */
  read: number;
  /** Set when every call failed: the subscription backs off as a whole until then. */
  backoffUntil?: Date;
  /** When its earliest parked retry is due: null none, undefined unknown (unchanged). */
  nextRetryAt?: Date | null;
}

/** What a lane knows of its subscription right after taking its lease. */
export interface LaneStart {
  paused: boolean;
  backoffUntil: Date | null;
  nextRetryAt: Date | null;
}

/** A subscription as its lane drives it (src/outbox/dispatcher.ts binds these to the database). */
export interface LaneWork {
  readonly name: string;
  /** Takes the lease; the fencing token, or undefined when another instance holds it. */
  acquire(): Promise<string | undefined>;
  /** False when the lease is no longer ours. */
  renew(token: string): Promise<boolean>;
  release(token: string): Promise<void>;
  /** The subscription's state, read after taking the lease. */
  begin(token: string): Promise<LaneStart>;
  /**
   * One round: the parked events whose retry is due (when `retriesDue`: looking costs a
   * statement), then one chunk of the log. Throws LeaseLostError when fenced out.
   */
  round(token: string, signal: AbortSignal, opts: { retriesDue: boolean }): Promise<Round>;
}

/** Thrown by a round whose lease was taken over: the lane lets it go and tries to get it back. */
export class LeaseLostError extends Error {
  constructor(subscription: string, options?: ErrorOptions) {
    super(`lost the lease of subscription ${subscription}: another instance took it over`, options);
    this.name = 'LeaseLostError';
  }
}

export interface LaneOptions {
  /** Fallback poll: the longest a resting lane sleeps (a lost wake-up delays, never loses). */
  pollIntervalMs: number;
  /** The lease's term; renewed every third of it. */
  leaseMs: number;
  /** How often a lane without its lease tries to take it. */
  acquireEveryMs: number;
}

/**
 * After going idle, a lane reads once at once and once more after this linger before the long
 * sleep: a writer that read "awake" just before the flip commits without ringing, and a commit is
 * typically done within a few ms (fsync included). Later ones wait for the watcher or the poll.
 */
export const IDLE_LINGER_MS = 25;

/**
 * While the dispatcher is flagged awake (writers do not ring) and some lanes sleep while others
 * work, the watcher looks at the head of the log this often and wakes the sleeping lanes when it
 * moved: a subscription whose endpoint hangs keeps the flag up, and the others must still see
 * fresh events within milliseconds, not at the fallback poll.
 */
export const AWAKE_WATCH_MS = 10;

/** Errors of our own database calls: wait this long before the next try (capped exponential). */
const ERROR_BACKOFF_MS = { base: 100, max: 5_000 };

export interface LanesDeps {
  works: readonly LaneWork[];
  clock: Clock;
  gate: WakeGate;
  /** The newest event id (a cheap probe of the log's head), for the watcher. */
  headOfLog(): Promise<string | null>;
  options: LaneOptions;
  logger: Logger;
  /** Told about every round that found work, and every error of a round. */
  onRound?(name: string, round: Round): void;
  onError?(name: string, error: string): void;
  /** Told when a lane finds its subscription paused by an operator, and when it is resumed. */
  onPaused?(name: string, paused: boolean): void;
}

export interface Lanes {
  start(): void;
  /** "There may be work": wakes the resting lanes now instead of at their next poll. */
  nudge(): void;
  /**
   * "An operator changed a subscription" (paused, resumed, moved, parked events put back): the
   * lanes that wait on their subscription's state (paused, backing off) read it again now, every
   * lane looks for due retries in its next round, and the resting ones wake.
   */
  refresh(): void;
  /**
   * Stops the lanes: waits up to deadlineMs for rounds in flight, then aborts them (deliveries
   * see the signal) and waits for them to return; gives every lease back. `drained` is false when
   * rounds had to be aborted.
   */
  stop(deadlineMs: number): Promise<{ drained: boolean }>;
  readonly running: boolean;
  /** Subscriptions whose lease this process holds now. */
  held(): string[];
}

export function createLanes(deps: LanesDeps): Lanes {
  const { clock, gate, options } = deps;
  const logger = deps.logger;
  const waker = createWaker(clock);
  /** Wakes the lanes that wait on their subscription's state (paused, backing off): refresh(). */
  const stateWaker = createWaker(clock);
  /** Raised by refresh(): each lane looks for due retries once it has seen a new value. */
  let refreshes = 0;
  const abort = new AbortController();
  const tokens = new Map<string, string>();
  let running = false;
  let loops: Promise<void>[] = [];
  /** Lanes asleep for any reason (resting, backing off, paused, waiting for the lease). */
  let sleeping = 0;
  /** Lanes asleep in a wakeable rest: the ones the watcher wakes. */
  let resting = 0;
  let watching = false;

  function nudge(): void {
    if (running) gate.markAwake();
    waker.nudge();
  }

  function sleep(ms: number, seenSeq: number, wakeable: boolean): Promise<void> {
    if (!running) return Promise.resolve();
    sleeping++;
    if (wakeable) resting++;
    if (wakeable) void watch();
    return waker.sleep(ms, { seenSeq, wakeable }).finally(() => {
      sleeping--;
      if (wakeable) resting--;
    });
  }

  /**
   * A sleep that only refresh() ends early (paused, backing off): nudges and the watcher, which
   * come with every event written, leave it alone.
   */
  function waitOnState(ms: number, seenSeq: number): Promise<void> {
    if (!running) return Promise.resolve();
    sleeping++;
    return stateWaker.sleep(ms, { seenSeq, wakeable: true }).finally(() => sleeping--);
  }

  /**
   * While the gate is awake and some lane rests: every AWAKE_WATCH_MS, wake the resting lanes if
   * the log's head moved. Runs once per process at a time.
   */
  async function watch(): Promise<void> {
    if (watching) return;
    watching = true;
    try {
      let head = await deps.headOfLog().catch(() => null);
      while (running && gate.awake && resting > 0 && sleeping < deps.works.length) {
        await waker.sleep(AWAKE_WATCH_MS, { seenSeq: waker.seq, wakeable: false });
        const now = await deps.headOfLog().catch(() => head);
        if (now !== head) {
          head = now;
          waker.nudge();
        }
      }
    } finally {
      watching = false;
    }
  }

  /** A lane found nothing: sleep, going idle first if every lane is out of work. */
  async function rest(seq: number, sinceIdle: number, untilMs: number): Promise<number> {
    if (sleeping + 1 >= deps.works.length && gate.awake) {
      // Every lane is out of work: writers must ring again before we sleep, and a writer that
      // read "awake" just before this flip may have committed since: read once more at once.
      await gate.markIdle();
      return 1;
    }
    if (sinceIdle === 1) {
      await sleep(IDLE_LINGER_MS, seq, true);
      return 2;
    }
    await sleep(Math.min(options.pollIntervalMs, untilMs - clock.now()), seq, true);
    return sinceIdle;
  }

  function keepLease(work: LaneWork, token: string): () => void {
    let timer: unknown;
    let stopped = false;
    const schedule = () => {
      timer = clock.setTimeout(
        () => {
          work
            .renew(token)
            .then((ok) => {
              if (!ok && tokens.get(work.name) === token) {
                tokens.delete(work.name);
                logger.warn(
                  { subscription: work.name },
                  'lease lost: another instance took it over, or an operator paused or moved it',
                );
              }
            })
            .catch((err) =>
              logger.warn(
                { subscription: work.name, err: errorMessage(err) },
                'could not renew the lease; trying again',
              ),
            )
            .finally(() => {
              if (!stopped) schedule();
            });
        },
        Math.floor(options.leaseMs / 3),
      );
    };
    schedule();
    return () => {
      stopped = true;
      clock.clearTimeout(timer);
    };
  }

  async function lane(work: LaneWork): Promise<void> {
    const log = logger.child({ subscription: work.name });
    let stopRenewing: (() => void) | undefined;
    let errors = 0;
    let sinceIdle = 0;
    let backoffUntil = 0;
    let nextRetryAt = Infinity;
    /** When this lane last looked for due retries (an operator's retry is seen within a poll). */
    let retriesCheckedAt = -Infinity;
    let paused = false;
    /** What onPaused was last told: each change is reported once. */
    let reportedPaused = false;
    /** stateWaker.seq as it was before the state was last read: no refresh is lost before a wait. */
    let stateSeen = stateWaker.seq;
    let refreshesSeen = refreshes;

    /** Reads the subscription's state into the lane's; keeps what it knew when that fails. */
    async function readState(token: string): Promise<void> {
      stateSeen = stateWaker.seq;
      try {
        const state = await work.begin(token);
        paused = state.paused;
        backoffUntil = state.backoffUntil?.getTime() ?? 0;
        nextRetryAt = state.nextRetryAt?.getTime() ?? Infinity;
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'could not read the subscription');
      }
      if (paused !== reportedPaused) {
        reportedPaused = paused;
        log.info(
          paused
            ? 'paused by an operator: reading nothing until it is resumed'
            : 'resumed: reading again',
        );
        deps.onPaused?.(work.name, paused);
      }
    }

    try {
      while (running) {
        const seq = waker.seq;
        let token = tokens.get(work.name);
        if (!token) {
          stopRenewing?.();
          stopRenewing = undefined;
          try {
            token = await work.acquire();
          } catch (err) {
            log.warn({ err: errorMessage(err) }, 'could not take the lease');
          }
          if (!token) {
            await sleep(options.acquireEveryMs, seq, false);
            continue;
          }
          tokens.set(work.name, token);
          stopRenewing = keepLease(work, token);
          await readState(token);
          log.info({ paused, backoffUntil: isoTime(backoffUntil) }, 'serving the subscription');
        }
        if (paused) {
          // An operator paused it: it keeps its position. Look again at every poll, or at once
          // when an operator acts (refresh()).
          await waitOnState(options.pollIntervalMs, stateSeen);
          await readState(token);
          continue;
        }
        if (backoffUntil > clock.now()) {
          // The whole subscription backs off. An operator's resume ends it: looked at every poll,
          // or at once (refresh()); events written meanwhile (nudges) do not.
          await waitOnState(
            Math.min(options.pollIntervalMs, backoffUntil - clock.now()),
            stateSeen,
          );
          if (backoffUntil > clock.now()) await readState(token);
          continue;
        }
        if (refreshesSeen !== refreshes) {
          // An operator may have put parked events back in line: look for due retries now.
          refreshesSeen = refreshes;
          retriesCheckedAt = -Infinity;
        }
        let round: Round;
        const now = clock.now();
        const retriesDue = nextRetryAt <= now || now - retriesCheckedAt >= options.pollIntervalMs;
        try {
          round = await work.round(token, abort.signal, { retriesDue });
          if (retriesDue) retriesCheckedAt = now;
          errors = 0;
        } catch (err) {
          if (err instanceof LeaseLostError) {
            if (tokens.get(work.name) === token) tokens.delete(work.name);
            log.warn(
              'lease lost: another instance took the subscription over, or an operator paused or moved it',
            );
            continue;
          }
          if (!running && abort.signal.aborted) return;
          errors++;
          const delay = Math.min(ERROR_BACKOFF_MS.max, ERROR_BACKOFF_MS.base * 2 ** (errors - 1));
          log.warn({ err: errorMessage(err), retryInMs: delay }, 'subscription round failed');
          deps.onError?.(work.name, errorMessage(err));
          await sleep(delay, waker.seq, false);
          continue;
        }
        // A round that looked for due retries knows when the next is due; one that says nothing
        // after looking had none (else the lane would look again at once, and again).
        if (round.nextRetryAt !== undefined) nextRetryAt = round.nextRetryAt?.getTime() ?? Infinity;
        else if (retriesDue) nextRetryAt = Infinity;
        if (round.backoffUntil) {
          backoffUntil = round.backoffUntil.getTime();
          deps.onRound?.(work.name, round);
          continue;
        }
        if (round.read > 0) {
          sinceIdle = 0;
          gate.markAwake();
          deps.onRound?.(work.name, round);
          continue;
        }
        sinceIdle = await rest(seq, sinceIdle, nextRetryAt);
      }
    } finally {
      stopRenewing?.();
      const token = tokens.get(work.name);
      tokens.delete(work.name);
      if (token) {
        await work
          .release(token)
          .catch((err) =>
            log.warn(
              { err: errorMessage(err) },
              'could not give the lease back; it runs out by itself',
            ),
          );
      }
    }
  }

  return {
    get running() {
      return running;
    },
    held: () => [...tokens.keys()],
    start() {
      if (running) return;
      running = true;
      loops = deps.works.map((work) => lane(work));
    },
    nudge,
    refresh() {
      refreshes++;
      stateWaker.nudge();
      nudge();
    },
    async stop(deadlineMs) {
      if (!running && loops.length === 0) return { drained: true };
      running = false;
      waker.wakeAll();
      stateWaker.wakeAll();
      let timer: unknown;
      const all = Promise.all(loops);
      const drained = await Promise.race([
        all.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = clock.setTimeout(() => resolve(false), deadlineMs);
        }),
      ]);
      clock.clearTimeout(timer);
      if (!drained) {
        abort.abort(new Error('shutting down'));
        await all;
      }
      loops = [];
      return { drained };
    },
  };
}

function isoTime(ms: number): string | undefined {
  return ms > 0 ? new Date(ms).toISOString() : undefined;
}
