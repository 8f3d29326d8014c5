// Proposed for test/unit/spam-lib.test.ts (no database needed).
import {
  RateMeter,
  UsageError,
  parseIdRange,
  parseSpamArgs,
  percentile,
  pickUpdate,
  runPaced,
  summarizeLatencies,
  topErrors,
} from '../../scripts/spam-lib';

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

  it('RateMeter measures over the last window', () => {
    const meter = new RateMeter(1000);
    meter.sample(0, 0);
    expect(meter.sample(500, 50)).toBe(100);
    expect(meter.sample(1000, 100)).toBe(100);
    expect(meter.sample(2000, 100)).toBe(0);
  });

  describe('runPaced', () => {
    it('When the task is fast, Then it starts rate x duration tasks on schedule', async () => {
      const result = await runPaced({ rate: 200, durationMs: 500, concurrency: 4 }, async () => {});
      expect(result.started).toBe(100);
      // Open-loop pacing never starts a slot early (how late it runs depends on the machine).
      expect(result.elapsedMs).toBeGreaterThanOrEqual(490);
    });

    it('When tasks are slow, Then concurrency bounds the tasks in flight', async () => {
      let inFlight = 0;
      let peak = 0;
      const slowTask = async () => {
        peak = Math.max(peak, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
      };
      const result = await runPaced({ rate: 0, durationMs: 200, concurrency: 3 }, slowTask);
      expect(peak).toBe(3);
      // At most 3 workers x 200 ms / 20 ms each (+3 in flight at the end); fewer on a busy machine.
      expect(result.started).toBeGreaterThanOrEqual(3);
      expect(result.started).toBeLessThanOrEqual(33);
    });

    it('When aborted, Then it stops early without waiting for the next slot', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const result = await runPaced(
        {
          rate: 1,
          durationMs: 10_000,
          concurrency: 2,
          signal: controller.signal,
        },
        async () => {},
      );
      expect(result.started).toBe(1);
      // It did not wait out the 10 s duration.
      expect(result.elapsedMs).toBeLessThan(10_000);
    });
  });
});
