import { createLogger } from '../../src/observability/logger';
import {
  AWAKE_WATCH_MS,
  createLanes,
  IDLE_LINGER_MS,
  LeaseLostError,
  type LaneWork,
  type Lanes,
  type Round,
} from '../../src/outbox/lanes';
import type { WakeGate } from '../../src/outbox/wake-gate';
import { createFakeClock, settle, type FakeClock } from '../helpers/fake-clock';

// The dispatcher's scheduling, driven by a fake clock: no database, no real time.

const POLL = 1_000;
const LEASE = 30_000;
const ACQUIRE_EVERY = 10_000;
const logger = createLogger({ level: 'silent' });

interface FakeWork extends LaneWork {
  rounds: { at: number; retriesDue: boolean; signal: AbortSignal }[];
  /** What the next rounds return (then { read: 0 }); a function may block or throw. */
  script: (Round | (() => Promise<Round>))[];
  free: boolean;
  renewals: number;
  renewOk: boolean;
  released: string[];
  begun: { paused: boolean; backoffUntil: Date | null; nextRetryAt: Date | null };
}

function fakeWork(name: string, clock: FakeClock): FakeWork {
  let token = 0;
  const work: FakeWork = {
    name,
    rounds: [],
    script: [],
    free: true,
    renewals: 0,
    renewOk: true,
    released: [],
    begun: { paused: false, backoffUntil: null, nextRetryAt: null },
    async acquire() {
      return work.free ? `t${++token}` : undefined;
    },
    async renew() {
      work.renewals++;
      return work.renewOk;
    },
    async release(t) {
      work.released.push(t);
    },
    async begin() {
      return work.begun;
    },
    async round(_token, signal, { retriesDue }) {
      work.rounds.push({ at: clock.now(), retriesDue, signal });
      const next = work.script.shift() ?? { read: 0 };
      const round = typeof next === 'function' ? await next() : next;
      // As the database does: a back-off is recorded with the subscription (begin() reads it).
      if (round.backoffUntil) work.begun = { ...work.begun, backoffUntil: round.backoffUntil };
      return round;
    },
  };
  return work;
}

function fakeGate(): WakeGate & { flips: string[] } {
  let awake = false;
  const flips: string[] = [];
  return {
    flips,
    get awake() {
      return awake;
    },
    markAwake() {
      if (!awake) flips.push('awake');
      awake = true;
    },
    async markIdle() {
      awake = false;
      flips.push('idle');
    },
    async stop() {},
  };
}

let clock: FakeClock;
let lanes: Lanes | undefined;

function start(works: LaneWork[], gate = fakeGate(), head: () => string | null = () => '1') {
  lanes = createLanes({
    works,
    clock,
    gate,
    headOfLog: async () => head(),
    options: { pollIntervalMs: POLL, leaseMs: LEASE, acquireEveryMs: ACQUIRE_EVERY },
    logger,
  });
  lanes.start();
  return { lanes, gate };
}

beforeEach(() => {
  clock = createFakeClock();
});
afterEach(async () => {
  const stopping = lanes?.stop(1_000);
  await clock.advance(2_000);
  await stopping;
  lanes = undefined;
});

test('a lane runs rounds while they find work, then rests until the poll or a nudge', async () => {
  const work = fakeWork('s', clock);
  work.script = [{ read: 5 }, { read: 5 }];
  start([work]);
  await settle();
  // Two rounds with work, then empty ones: the one that flips idle, the one at once after it.
  expect(work.rounds.map((r) => r.at)).toEqual([0, 0, 0, 0]);
  await clock.advance(IDLE_LINGER_MS);
  expect(work.rounds).toHaveLength(5);
  await clock.advance(POLL - 1);
  expect(work.rounds).toHaveLength(5);
  // A nudge (a NOTIFY) flags the dispatcher awake and wakes the lane: a round, the idle flip and
  // the round right after it, and the one after the linger.
  lanes!.nudge();
  await settle();
  expect(work.rounds).toHaveLength(7);
  await clock.advance(IDLE_LINGER_MS);
  expect(work.rounds).toHaveLength(8);
  await clock.advance(POLL);
  expect(work.rounds).toHaveLength(9);
});

test('without the lease a lane runs nothing and asks again every acquireEveryMs', async () => {
  const work = fakeWork('s', clock);
  work.free = false;
  const acquire = jest.spyOn(work, 'acquire');
  start([work]);
  await clock.advance(ACQUIRE_EVERY * 3);
  expect(acquire).toHaveBeenCalledTimes(4);
  expect(work.rounds).toHaveLength(0);
  work.free = true;
  await clock.advance(ACQUIRE_EVERY);
  expect(work.rounds.length).toBeGreaterThan(0);
  expect(lanes!.held()).toEqual(['s']);
});

test('a back-off holds the lane until its end; nudges do not cut it short', async () => {
  const work = fakeWork('s', clock);
  work.script = [{ read: 3, backoffUntil: new Date(5_000) }];
  start([work]);
  await settle();
  expect(work.rounds).toHaveLength(1);
  lanes!.nudge();
  await clock.advance(4_999);
  expect(work.rounds).toHaveLength(1);
  await clock.advance(1);
  expect(work.rounds.length).toBeGreaterThan(1);
  expect(work.rounds[1]!.at).toBe(5_000);
});

test('a back-off read at start holds the lane too', async () => {
  const work = fakeWork('s', clock);
  work.begun = { paused: false, backoffUntil: new Date(3_000), nextRetryAt: null };
  start([work]);
  await clock.advance(2_999);
  expect(work.rounds).toHaveLength(0);
  await clock.advance(1);
  expect(work.rounds).toHaveLength(1);
});

test('a parked retry due before the poll wakes the lane at that time, with retriesDue', async () => {
  const work = fakeWork('s', clock);
  start([work]);
  await clock.advance(IDLE_LINGER_MS + POLL); // settled into the poll rhythm
  const at = clock.now();
  work.script = [{ read: 1, nextRetryAt: new Date(at + 300) }];
  lanes!.nudge();
  await clock.advance(299);
  const since = () => work.rounds.filter((r) => r.at >= at).map((r) => [r.at - at, r.retriesDue]);
  // The nudged round, the idle flip's, the linger's; none looked for retries (not due, and the
  // last look was less than a poll ago).
  expect(since()).toEqual([
    [0, false],
    [0, false],
    [0, false],
    [IDLE_LINGER_MS, false],
  ]);
  await clock.advance(1);
  expect(since().at(-1)).toEqual([300, true]);
});

test('the lease is renewed every third of its term; when it is lost, the lane takes it again', async () => {
  const work = fakeWork('s', clock);
  start([work]);
  await clock.advance(LEASE);
  expect(work.renewals).toBe(3);
  // Another instance took it over: renewal says so, and taking it back fails for now.
  work.renewOk = false;
  work.free = false;
  await clock.advance(LEASE / 3);
  expect(lanes!.held()).toEqual([]);
  const rounds = work.rounds.length;
  await clock.advance(POLL * 3);
  expect(work.rounds).toHaveLength(rounds);
  work.free = true;
  await clock.advance(ACQUIRE_EVERY);
  expect(lanes!.held()).toEqual(['s']);
});

test('a round fenced out (LeaseLostError): the lane lets the lease go and takes it again', async () => {
  const work = fakeWork('s', clock);
  work.script = [() => Promise.reject(new LeaseLostError('s')), { read: 1 }];
  const acquire = jest.spyOn(work, 'acquire');
  start([work]);
  await settle();
  expect(acquire).toHaveBeenCalledTimes(2);
  expect(work.rounds.length).toBeGreaterThanOrEqual(2);
});

test('a round that fails waits 100 ms, doubling to 5 s, before the next', async () => {
  const work = fakeWork('s', clock);
  work.script = Array.from({ length: 9 }, () => () => Promise.reject(new Error('db down')));
  start([work]);
  await clock.advance(25_000);
  const gaps = work.rounds.slice(1, 10).map((r, i) => r.at - work.rounds[i]!.at);
  expect(gaps).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
});

test('a paused subscription is not read; it is looked at again every poll', async () => {
  const work = fakeWork('s', clock);
  work.begun = { paused: true, backoffUntil: null, nextRetryAt: null };
  start([work]);
  await clock.advance(POLL * 3);
  expect(work.rounds).toHaveLength(0);
  work.begun = { paused: false, backoffUntil: null, nextRetryAt: null };
  await clock.advance(POLL);
  expect(work.rounds.length).toBeGreaterThan(0);
});

test('a paused lane reads its state again at once on refresh(), not on nudges; it says when it pauses and resumes', async () => {
  const work = fakeWork('s', clock);
  const begin = jest.spyOn(work, 'begin');
  const told: boolean[] = [];
  work.begun = { paused: true, backoffUntil: null, nextRetryAt: null };
  lanes = createLanes({
    works: [work],
    clock,
    gate: fakeGate(),
    headOfLog: async () => '1',
    options: { pollIntervalMs: POLL, leaseMs: LEASE, acquireEveryMs: ACQUIRE_EVERY },
    logger,
    onPaused: (_name, paused) => told.push(paused),
  });
  lanes.start();
  await settle();
  expect(told).toEqual([true]);
  const reads = begin.mock.calls.length;
  // Every event written rings (nudge): a paused lane does not read its state for each.
  lanes.nudge();
  lanes.nudge();
  await settle();
  expect(begin.mock.calls.length).toBe(reads);
  // An operator resumes it (the NOTIFY 'subscriptions'): read at once, well before the poll.
  work.begun = { paused: false, backoffUntil: null, nextRetryAt: null };
  lanes.refresh();
  await settle();
  expect(told).toEqual([true, false]);
  expect(work.rounds.length).toBeGreaterThan(0);
  expect(clock.now()).toBeLessThan(POLL);
});

test('a back-off is read again every poll and on refresh(): an operator may end it', async () => {
  const work = fakeWork('s', clock);
  work.script = [{ read: 3, backoffUntil: new Date(60_000) }];
  start([work]);
  await settle();
  expect(work.rounds).toHaveLength(1);
  await clock.advance(POLL * 2);
  expect(work.rounds).toHaveLength(1);
  // Resumed by an operator: the database says the back-off is over; seen at the next poll.
  work.begun = { paused: false, backoffUntil: null, nextRetryAt: null };
  await clock.advance(POLL);
  expect(work.rounds.length).toBeGreaterThan(1);
  expect(work.rounds[1]!.at).toBe(POLL * 3);

  // A second back-off, ended by refresh() at once.
  const at = clock.now();
  work.script = [{ read: 1, backoffUntil: new Date(at + 60_000) }];
  lanes!.nudge();
  await settle();
  const rounds = work.rounds.length;
  work.begun = { paused: false, backoffUntil: null, nextRetryAt: null };
  lanes!.refresh();
  await settle();
  expect(work.rounds.length).toBeGreaterThan(rounds);
  expect(clock.now()).toBe(at);
});

test('refresh() makes the next round look for due retries (an operator put parked events back)', async () => {
  const work = fakeWork('s', clock);
  start([work]);
  await clock.advance(IDLE_LINGER_MS + POLL);
  const at = clock.now();
  lanes!.refresh();
  await settle();
  const since = work.rounds.filter((r) => r.at >= at);
  expect(since[0]).toEqual(expect.objectContaining({ at, retriesDue: true }));
});

test('the last lane out of work flips the gate idle, reads once at once and after the linger', async () => {
  const a = fakeWork('a', clock);
  const b = fakeWork('b', clock);
  a.script = [{ read: 1 }];
  const { gate } = start([a, b]);
  await settle();
  expect(gate.flips).toEqual(['awake', 'idle']);
  const after = a.rounds.length + b.rounds.length;
  await clock.advance(IDLE_LINGER_MS);
  expect(a.rounds.length + b.rounds.length).toBe(after + 1);
  expect(gate.awake).toBe(false);
});

test('while one lane is busy (gate awake), the watcher wakes a resting one when the log moves', async () => {
  const busy = fakeWork('busy', clock);
  const resting = fakeWork('resting', clock);
  let release!: () => void;
  busy.script = [() => new Promise<Round>((resolve) => (release = () => resolve({ read: 1 })))];
  let head = '10';
  const { gate } = start([busy, resting], fakeGate(), () => head);
  gate.markAwake();
  await clock.advance(POLL * 2);
  const quiet = resting.rounds.length;
  // Nothing new: the watcher looks every AWAKE_WATCH_MS and wakes nobody.
  await clock.advance(AWAKE_WATCH_MS * 5);
  expect(resting.rounds.length).toBe(quiet);
  // A writer commits (without ringing: the gate is awake): seen within one watch period.
  head = '11';
  await clock.advance(AWAKE_WATCH_MS);
  expect(resting.rounds.length).toBe(quiet + 1);
  release();
});

test('stop() gives the lease back; a round still running at the deadline is aborted', async () => {
  const work = fakeWork('s', clock);
  work.script = [
    () =>
      new Promise<Round>((_resolve, reject) => {
        const signal = work.rounds.at(-1)!.signal;
        signal.addEventListener('abort', () => reject(signal.reason as Error));
      }),
  ];
  const { lanes: l } = start([work]);
  await settle();
  const stopping = l.stop(5_000);
  await clock.advance(4_999);
  expect(work.rounds[0]!.signal.aborted).toBe(false);
  await clock.advance(1);
  expect(await stopping).toEqual({ drained: false });
  expect(work.rounds[0]!.signal.aborted).toBe(true);
  expect(work.released).toEqual(['t1']);
  lanes = undefined;
});
