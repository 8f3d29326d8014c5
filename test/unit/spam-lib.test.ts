// The spam tool's pure parts (no database, no real time).
import {
  BACKLOG_CAP,
  type OutboxGaugeRow,
  type SubscriptionGauge,
} from '../../src/outbox/sql/stats';
import {
  type Clock,
  RateMeter,
  UsageError,
  createRealClock,
  formatOutboxSummary,
  parseIdRange,
  parseSpamArgs,
  percentile,
  pickUpdate,
  runPaced,
  summarizeLatencies,
  topErrors,
} from '../../scripts/spam-lib';
import { createFakeClock, settle, type FakeClock } from '../helpers/fake-clock';

describe('spam-lib', () => {
  describe('parseSpamArgs', () => {
    it('When no options are given, Then the documented defaults apply', () => {
      const options = parseSpamArgs([], {});
      expect(options).toMatchObject({
        rate: 50,
        durationSec: 10,
        concurrency: 8,
        mode: 'api',
        url: 'http://localhost:3000',
        databaseUrl: 'postgres://postgres:postgres@127.0.0.1:54329/outbox',
        ids: { min: 1, max: 12 },
        help: false,
      });
    });

    it('When API_URL and DATABASE_URL are set, Then they are the defaults', () => {
      const options = parseSpamArgs([], {
        API_URL: 'http://api:8080/',
        DATABASE_URL: 'postgres://x/y',
      });
      expect(options.url).toBe('http://api:8080');
      expect(options.databaseUrl).toBe('postgres://x/y');
    });

    it('When flags are given, Then they win over the environment', () => {
      const argv = ['--rate', '0', '--duration=2.5', '--concurrency', '3', '--mode', 'sql'];
      const options = parseSpamArgs([...argv, '--ids', '4-6', '-h'], {
        API_URL: 'http://x',
      });
      expect(options).toMatchObject({
        rate: 0,
        durationSec: 2.5,
        concurrency: 3,
        mode: 'sql',
      });
      expect(options.ids).toEqual({ min: 4, max: 6 });
      expect(options.help).toBe(true);
    });

    it.each([
      [['--rate', 'fast']],
      [['--duration', '0']],
      [['--concurrency', '1.5']],
      [['--concurrency', '0']],
      [['--mode', 'grpc']],
      [['--unknown']],
      [['positional']],
    ])('When given %j, Then it throws a UsageError', (argv) => {
      expect(() => parseSpamArgs(argv, {})).toThrow(UsageError);
    });
  });

  describe('parseIdRange', () => {
    it('accepts a range or a single id', () => {
      expect(parseIdRange('1-12')).toEqual({ min: 1, max: 12 });
      expect(parseIdRange('7')).toEqual({ min: 7, max: 7 });
    });

    it.each(['0-3', '5-2', 'a-b', '', '-3'])('rejects %j', (text) => {
      expect(() => parseIdRange(text)).toThrow(UsageError);
    });
  });

  it('pickUpdate stays within the id range and the known statuses', () => {
    expect(pickUpdate({ min: 3, max: 5 }, () => 0)).toEqual({
      id: 3,
      status: 'pending',
    });
    expect(pickUpdate({ min: 3, max: 5 }, () => 0.9999)).toEqual({
      id: 5,
      status: 'cancelled',
    });
  });

  describe('percentile', () => {
    const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

    it('uses the nearest rank', () => {
      expect(percentile(oneToHundred, 50)).toBe(50);
      expect(percentile(oneToHundred, 99)).toBe(99);
      expect(percentile(oneToHundred, 100)).toBe(100);
      expect(percentile([4], 0)).toBe(4);
    });

    it('is NaN without values', () => {
      expect(percentile([], 50)).toBeNaN();
    });

    it('summarizeLatencies sorts its input first', () => {
      expect(summarizeLatencies([30, 10, 20])).toEqual({
        p50: 20,
        p90: 30,
        p99: 30,
        max: 30,
      });
    });
  });

  it('topErrors orders by count, then by key, and keeps the first few', () => {
    const counts = new Map([
      ['b', 2],
      ['a', 2],
      ['c', 5],
      ['d', 1],
    ]);
    expect(topErrors(counts, 3)).toEqual([
      ['c', 5],
      ['a', 2],
      ['b', 2],
    ]);
  });

  describe('formatOutboxSummary', () => {
    const subscription = (over: Partial<SubscriptionGauge>): SubscriptionGauge => ({
      name: 'notify-client',
      kind: 'sql',
      state: 'active',
      holder: null,
      backoffUntil: null,
      lastError: null,
      behind: 0,
      lagSeconds: 0,
      retrying: 0,
      dead: 0,
      ...over,
    });

    it('shows the slowest backlog and lag, the parked events, then every subscription', () => {
      const gauges: OutboxGaugeRow = {
        subscriptions: [
          subscription({ behind: 3, lagSeconds: 0.0123 }),
          subscription({
            name: 'webhook:orders',
            kind: 'external',
            state: 'backing_off',
            backoffUntil: new Date('2026-01-02T03:04:05.000Z'),
            behind: BACKLOG_CAP,
            lagSeconds: 42.5,
            retrying: 2,
            dead: 1,
          }),
        ],
        pending: BACKLOG_CAP,
        lagSeconds: 42.5,
        retrying: 2,
        dead: 1,
      };
      expect(formatOutboxSummary(gauges)).toEqual([
        'outbox      behind 10000+, lag 42500.0 ms (slowest subscription); retrying 2, dead 1',
        '  notify-client   behind 3, lag 12.3 ms, retrying 0, dead 0, active',
        '  webhook:orders  behind 10000+, lag 42500.0 ms, retrying 2, dead 1, backing off until 2026-01-02T03:04:05.000Z',
      ]);
    });

    it('shows an empty backlog plainly', () => {
      expect(
        formatOutboxSummary({
          subscriptions: [subscription({})],
          pending: 0,
          lagSeconds: 0,
          retrying: 0,
          dead: 0,
        }),
      ).toEqual([
        'outbox      behind 0, lag 0.00 ms (slowest subscription); retrying 0, dead 0',
        '  notify-client  behind 0, lag 0.00 ms, retrying 0, dead 0, active',
      ]);
    });
  });

  it('RateMeter measures over the last window', () => {
    const meter = new RateMeter(1000);
    meter.sample(0, 0);
    expect(meter.sample(500, 50)).toBe(100);
    expect(meter.sample(1000, 100)).toBe(100);
    expect(meter.sample(2000, 100)).toBe(0);
  });

  describe('runPaced (on a fake clock: no real time passes)', () => {
    /**
     * The pacing Clock on top of the fake one: sleeps are its timers; like createRealClock, a
     * sleep ends early when `signal` aborts.
     */
    function pacingClock(fake: FakeClock, signal?: AbortSignal): Clock {
      return {
        now: () => fake.now(),
        sleep: (ms) =>
          new Promise<void>((resolve) => {
            if (signal?.aborted) return resolve();
            const wake = () => {
              fake.clearTimeout(timer);
              signal?.removeEventListener('abort', wake);
              resolve();
            };
            const timer = fake.setTimeout(wake, ms);
            signal?.addEventListener('abort', wake, { once: true });
          }),
      };
    }

    it('When the task is fast, Then it starts rate x duration tasks, each on its slot', async () => {
      const fake = createFakeClock();
      const startedAt: number[] = [];
      const run = runPaced(
        { rate: 200, durationMs: 500, concurrency: 4, clock: pacingClock(fake) },
        async () => {
          startedAt.push(fake.now());
        },
      );
      await fake.advance(1_000);
      const result = await run;
      // One start every 5 ms from 0 to 495: open-loop pacing never starts a slot early or late.
      expect(startedAt).toEqual(Array.from({ length: 100 }, (_, i) => i * 5));
      expect(result).toEqual({ started: 100, elapsedMs: 495, maxLagMs: 0 });
    });

    it('When one response is slow, Then another worker keeps the schedule (open loop)', async () => {
      const fake = createFakeClock();
      const clock = pacingClock(fake);
      const startedAt: number[] = [];
      const run = runPaced({ rate: 100, durationMs: 100, concurrency: 2, clock }, async (i) => {
        startedAt.push(fake.now());
        // Task 0 takes 35 ms; the others answer at once.
        if (i === 0) await clock.sleep(35);
      });
      await fake.advance(1_000);
      const result = await run;
      // Slots every 10 ms: the second worker alone takes slots 1-3 while task 0 runs, and none
      // is late; the schedule is not shifted by the slow answer.
      expect(startedAt).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
      expect(result).toMatchObject({ started: 10, maxLagMs: 0 });
    });

    it('When every worker is busy, Then slots start late and maxLagMs says by how much', async () => {
      const fake = createFakeClock();
      const clock = pacingClock(fake);
      const startedAt: number[] = [];
      const run = runPaced({ rate: 100, durationMs: 50, concurrency: 1, clock }, async () => {
        startedAt.push(fake.now());
        await clock.sleep(25);
      });
      await fake.advance(1_000);
      const result = await run;
      // One worker, 25 ms per task, a slot every 10 ms: starts at 0, 25 (slot 1, 15 late) and
      // 50, which is the end of the run: slot 2 never starts.
      expect(startedAt).toEqual([0, 25]);
      expect(result).toEqual({ started: 2, elapsedMs: 50, maxLagMs: 15 });
    });

    it('When tasks are slow, Then concurrency bounds the tasks in flight', async () => {
      const fake = createFakeClock();
      const clock = pacingClock(fake);
      let inFlight = 0;
      let peak = 0;
      const run = runPaced({ rate: 0, durationMs: 200, concurrency: 3, clock }, async () => {
        peak = Math.max(peak, ++inFlight);
        await clock.sleep(20);
        inFlight -= 1;
      });
      await fake.advance(1_000);
      const result = await run;
      expect(peak).toBe(3);
      // Unpaced: 3 workers, each starting a 20 ms task at 0, 20, ..., 180.
      expect(result).toEqual({ started: 30, elapsedMs: 200, maxLagMs: 0 });
    });

    it('When aborted, Then it stops at once without waiting for the next slot', async () => {
      const fake = createFakeClock();
      const controller = new AbortController();
      fake.setTimeout(() => controller.abort(), 50);
      const run = runPaced(
        {
          rate: 1,
          durationMs: 10_000,
          concurrency: 2,
          signal: controller.signal,
          clock: pacingClock(fake, controller.signal),
        },
        async () => {},
      );
      await fake.advance(50);
      // The next slot is at 1,000 ms and the run's end at 10 s: it returned at the abort.
      expect(await run).toEqual({ started: 1, elapsedMs: 50, maxLagMs: 0 });
    });

    it("createRealClock's sleep ends when its signal aborts, without its timer", async () => {
      const controller = new AbortController();
      let woke = false;
      const sleeping = createRealClock(controller.signal)
        .sleep(60_000)
        .then(() => (woke = true));
      await settle();
      expect(woke).toBe(false);
      controller.abort();
      await settle();
      expect(woke).toBe(true);
      await sleeping;
      // Already aborted: no sleep at all.
      let again = false;
      void createRealClock(controller.signal)
        .sleep(60_000)
        .then(() => (again = true));
      await settle();
      expect(again).toBe(true);
    });
  });
});
