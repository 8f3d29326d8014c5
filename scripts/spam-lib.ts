import { parseArgs } from 'node:util';

import { ORDER_STATUSES, type OrderStatus } from '../src/orders/orders.schema';
import { BACKLOG_CAP, type OutboxGaugeRow } from '../src/outbox/sql/stats';

export { ORDER_STATUSES, type OrderStatus };

export type SpamMode = 'api' | 'sql';

export interface IdRange {
  min: number;
  max: number;
}

export interface SpamOptions {
  /** Target updates per second; 0 means as fast as the concurrency allows. */
  rate: number;
  durationSec: number;
  concurrency: number;
  mode: SpamMode;
  url: string;
  databaseUrl: string;
  ids: IdRange;
  help: boolean;
}

export const USAGE = `Usage: npm run spam -- [options]

Sends random order status changes at a steady rate and prints a latency summary.

Options:
  --rate <n>            target updates per second, 0 = as fast as possible (default 50)
  --duration <s>        how long to run, in seconds (default 10)
  --concurrency <n>     updates in flight at most (default 8)
  --mode <api|sql>      PATCH /orders/update, or UPDATE orders directly (default api)
  --url <url>           API base URL (default $API_URL or http://localhost:3000)
  --database-url <url>  PostgreSQL for sql mode, and for each subscription's backlog
                        and lag in the summary
                        (default $DATABASE_URL or postgres://postgres:postgres@127.0.0.1:54329/outbox)
  --ids <a-b>           order ids to pick from (default 1-12)
  -h, --help            show this help
`;

/** A bad command line: the CLI prints the message and the usage. */
export class UsageError extends Error {}

const DEFAULT_URL = 'http://localhost:3000';
const DEFAULT_DATABASE_URL = 'postgres://postgres:postgres@127.0.0.1:54329/outbox';

export function parseSpamArgs(argv: string[], env: NodeJS.ProcessEnv = {}): SpamOptions {
  const { values } = parseCommandLine(argv);
  return {
    rate: parseNumber('--rate', values.rate ?? '50', { min: 0 }),
    durationSec: parseNumber('--duration', values.duration ?? '10', { min: 0, exclusive: true }),
    concurrency: parseNumber('--concurrency', values.concurrency ?? '8', { min: 1, integer: true }),
    mode: parseMode(values.mode ?? 'api'),
    url: stripTrailingSlash(values.url ?? env.API_URL ?? DEFAULT_URL),
    databaseUrl: values['database-url'] ?? env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    ids: parseIdRange(values.ids ?? '1-12'),
    help: values.help ?? false,
  };
}

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        rate: { type: 'string' },
        duration: { type: 'string' },
        concurrency: { type: 'string' },
        mode: { type: 'string' },
        url: { type: 'string' },
        'database-url': { type: 'string' },
        ids: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

interface NumberRule {
  min: number;
  exclusive?: boolean;
  integer?: boolean;
}

function parseNumber(flag: string, text: string, rule: NumberRule): number {
  const value = Number(text);
  const tooSmall = rule.exclusive ? value <= rule.min : value < rule.min;
  if (text.trim() === '' || !Number.isFinite(value) || tooSmall) {
    const bound = rule.exclusive ? `greater than ${rule.min}` : `at least ${rule.min}`;
    throw new UsageError(`${flag} must be a number ${bound}, got '${text}'`);
  }
  if (rule.integer && !Number.isInteger(value)) {
    throw new UsageError(`${flag} must be a whole number, got '${text}'`);
  }
  return value;
}

function parseMode(text: string): SpamMode {
  if (text === 'api' || text === 'sql') return text;
  throw new UsageError(`--mode must be 'api' or 'sql', got '${text}'`);
}

/** Accepts `a-b` or a single id `a`. */
export function parseIdRange(text: string): IdRange {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  const min = match ? Number(match[1]) : NaN;
  const max = match?.[2] !== undefined ? Number(match[2]) : min;
  if (!match || min < 1 || max < min || !Number.isSafeInteger(max)) {
    throw new UsageError(`--ids must look like 1-12 (positive, low to high), got '${text}'`);
  }
  return { min, max };
}

function stripTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export interface StatusUpdate {
  id: number;
  status: OrderStatus;
}

/** A same-status pick is kept on purpose: it exercises the trigger's no-op path. */
export function pickUpdate(ids: IdRange, random: () => number = Math.random): StatusUpdate {
  const id = ids.min + Math.floor(random() * (ids.max - ids.min + 1));
  const status = ORDER_STATUSES[Math.floor(random() * ORDER_STATUSES.length)] ?? 'pending';
  return { id, status };
}

/** Nearest-rank percentile of values sorted ascending; NaN when there are none. */
export function percentile(sortedValues: readonly number[], p: number): number {
  if (sortedValues.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sortedValues.length);
  const index = Math.min(sortedValues.length - 1, Math.max(0, rank - 1));
  return sortedValues[index] ?? NaN;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarizeLatencies(latenciesMs: readonly number[]): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/** Counts outcomes of a run; error keys are grouped so the summary can show the top few. */
export class RunStats {
  sent = 0;
  ok = 0;
  failed = 0;
  readonly latenciesMs: number[] = [];
  readonly errorCounts = new Map<string, number>();

  recordSent(): void {
    this.sent += 1;
  }

  recordOk(latencyMs: number): void {
    this.ok += 1;
    this.latenciesMs.push(latencyMs);
  }

  recordError(key: string, latencyMs: number): void {
    this.failed += 1;
    this.latenciesMs.push(latencyMs);
    this.errorCounts.set(key, (this.errorCounts.get(key) ?? 0) + 1);
  }

  get completed(): number {
    return this.ok + this.failed;
  }
}

export function topErrors(counts: ReadonlyMap<string, number>, limit = 5): [string, number][] {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, limit);
}

/** Completions per second over a sliding window, fed by periodic samples of a counter. */
export class RateMeter {
  private readonly samples: { atMs: number; count: number }[] = [];

  constructor(private readonly windowMs = 1000) {}

  sample(atMs: number, count: number): number {
    this.samples.push({ atMs, count });
    // Keep one sample at or before the window start so the rate spans the whole window.
    while ((this.samples[1]?.atMs ?? Infinity) <= atMs - this.windowMs) this.samples.shift();
    const oldest = this.samples[0] ?? { atMs, count };
    const spanMs = atMs - oldest.atMs;
    return spanMs > 0 ? ((count - oldest.count) * 1000) / spanMs : 0;
  }
}

/** Milliseconds as the summary prints them: two decimals below 10, one above; n/a for NaN. */
export function formatMs(value: number): string {
  if (Number.isNaN(value)) return 'n/a';
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

/** A backlog count; the database counts up to BACKLOG_CAP, so that one reads "at least". */
function formatBehind(behind: number): string {
  return behind >= BACKLOG_CAP ? `${BACKLOG_CAP}+` : String(behind);
}

/**
 * The summary's outbox lines, from readOutboxGauges(): the slowest subscription's backlog and lag
 * (what the run left behind), the parked events, then one line per subscription, since each reads
 * the log at its own position (a subscription that no running instance serves lags here too).
 */
export function formatOutboxSummary(g: OutboxGaugeRow): string[] {
  const lines = [
    `outbox      behind ${formatBehind(g.pending)}, lag ${formatMs(g.lagSeconds * 1000)} ms ` +
      `(slowest subscription); retrying ${g.retrying}, dead ${g.dead}`,
  ];
  const width = Math.max(0, ...g.subscriptions.map((s) => s.name.length));
  for (const s of g.subscriptions) {
    const state =
      s.state === 'backing_off' && s.backoffUntil
        ? `backing off until ${s.backoffUntil.toISOString()}`
        : s.state;
    lines.push(
      `  ${s.name.padEnd(width)}  behind ${formatBehind(s.behind)}, ` +
        `lag ${formatMs(s.lagSeconds * 1000)} ms, retrying ${s.retrying}, dead ${s.dead}, ${state}`,
    );
  }
  return lines;
}

export function renderBar(fraction: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** performance.now() is monotonic, so wall-clock jumps cannot skew the schedule. */
export function createRealClock(signal?: AbortSignal): Clock {
  return {
    now: () => performance.now(),
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const wake = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        signal?.addEventListener('abort', wake, { once: true });
      }),
  };
}

export interface PacingOptions {
  /** Starts per second; 0 starts the next task as soon as a worker is free. */
  rate: number;
  durationMs: number;
  concurrency: number;
  clock?: Clock;
  signal?: AbortSignal;
}

export interface PacingResult {
  started: number;
  elapsedMs: number;
  /** Worst delay of a start behind its slot (0 when unpaced): high means concurrency capped it. */
  maxLagMs: number;
}

/**
 * Open-loop pacing: task n is due at start + n / rate whatever happened to earlier tasks, so a
 * slow response delays only the worker that waits for it, and free workers catch up on the
 * schedule. Sleeping a fixed interval per worker would instead let latency lower the rate.
 * `task` must not throw; it records its own outcome.
 */
export async function runPaced(
  options: PacingOptions,
  task: (index: number) => Promise<void>,
): Promise<PacingResult> {
  const clock = options.clock ?? createRealClock(options.signal);
  const startedAt = clock.now();
  const endsAt = startedAt + options.durationMs;
  const intervalMs = options.rate > 0 ? 1000 / options.rate : 0;
  let nextIndex = 0;
  let started = 0;
  let maxLagMs = 0;

  const claimSlot = (): { index: number; dueAt: number } | undefined => {
    const dueAt = startedAt + nextIndex * intervalMs;
    if (options.signal?.aborted || dueAt >= endsAt || clock.now() >= endsAt) return undefined;
    return { index: nextIndex++, dueAt };
  };

  const worker = async (): Promise<void> => {
    for (let slot = claimSlot(); slot; slot = claimSlot()) {
      const waitMs = slot.dueAt - clock.now();
      if (waitMs > 0) await clock.sleep(waitMs);
      if (options.signal?.aborted) return;
      if (intervalMs > 0) maxLagMs = Math.max(maxLagMs, clock.now() - slot.dueAt);
      started += 1;
      await task(slot.index);
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { started, elapsedMs: clock.now() - startedAt, maxLagMs };
}
