// Load generator for order status changes: `npm run spam -- --help`.
import { Pool } from 'pg';
import { readOutboxGauges } from '../src/outbox/sql/stats';
import {
  LatencySummary,
  PacingResult,
  RateMeter,
  RunStats,
  SpamOptions,
  StatusUpdate,
  USAGE,
  UsageError,
  formatMs,
  formatOutboxSummary,
  parseSpamArgs,
  pickUpdate,
  renderBar,
  runPaced,
  summarizeLatencies,
  topErrors,
} from './spam-lib';

const REQUEST_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 3_000;
const PROGRESS_TICK_MS = 200;
const PLAIN_PROGRESS_EVERY_MS = 2_000;

type Outcome = { ok: true } | { ok: false; error: string };

interface UpdateTarget {
  label: string;
  /** Never throws: failures come back as an outcome so that they are counted. */
  send(update: StatusUpdate): Promise<Outcome>;
  /** Extra summary lines, read after the run. */
  report(): Promise<string[]>;
  close(): Promise<void>;
}

/** The target is unusable: the run does not start. */
class StartError extends Error {}

async function openApiTarget(baseUrl: string, databaseUrl: string): Promise<UpdateTarget> {
  await assertServiceReady(baseUrl);
  // The subscriptions' backlog and lag are read from the service's database; a database we
  // cannot reach only costs those lines of the summary ("lag unavailable").
  const pool = new Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 3_000 });
  pool.on('error', () => {});
  return {
    label: `api ${baseUrl}`,
    send: (update) => patchOrder(baseUrl, update),
    report: () => reportOutboxLag(pool),
    close: () => pool.end(),
  };
}

async function assertServiceReady(baseUrl: string): Promise<void> {
  const readyUrl = `${baseUrl}/readyz`;
  let response: Response;
  try {
    response = await fetch(readyUrl, { signal: AbortSignal.timeout(READY_TIMEOUT_MS) });
    await response.text();
  } catch (error) {
    throw new StartError(
      `cannot reach ${readyUrl} (${describeError(error)}). Is the service running? (npm run dev)`,
    );
  }
  if (!response.ok) {
    throw new StartError(`${readyUrl} answered ${response.status}: the service is not ready yet`);
  }
}

// Node's global fetch (undici) keeps connections alive and pools them per origin, so at most
// --concurrency sockets stay open and are reused.
async function patchOrder(baseUrl: string, update: StatusUpdate): Promise<Outcome> {
  try {
    const response = await fetch(`${baseUrl}/orders/update`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(update),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    // Reading the body to the end is what hands the socket back to the pool.
    const body = await response.text();
    if (response.ok) return { ok: true };
    return { ok: false, error: `HTTP ${response.status}${errorCodeSuffix(body)}` };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

function errorCodeSuffix(body: string): string {
  try {
    const code: unknown = JSON.parse(body)?.error?.code;
    return typeof code === 'string' ? ` ${code}` : '';
  } catch {
    return '';
  }
}

const UPDATE_ORDER_SQL = 'update orders set status = $2 where id = $1';

async function openSqlTarget(databaseUrl: string, concurrency: number): Promise<UpdateTarget> {
  const pool = new Pool({
    connectionString: databaseUrl,
    max: concurrency,
    connectionTimeoutMillis: 5_000,
  });
  // An idle client dying (server restart) must not crash the run; the next query reports it.
  pool.on('error', () => {});
  try {
    // Open every connection now so that connecting does not show up in the first latencies.
    await Promise.all(Array.from({ length: concurrency }, () => pool.query('select 1')));
  } catch (error) {
    await pool.end();
    throw new StartError(`cannot connect to ${redactUrl(databaseUrl)} (${describeError(error)})`);
  }
  return {
    label: `sql ${redactUrl(databaseUrl)}`,
    send: (update) => updateOrder(pool, update),
    report: () => reportOutboxLag(pool),
    close: () => pool.end(),
  };
}

async function updateOrder(pool: Pool, update: StatusUpdate): Promise<Outcome> {
  try {
    const result = await pool.query(UPDATE_ORDER_SQL, [update.id, update.status]);
    return result.rowCount === 1 ? { ok: true } : { ok: false, error: 'order not found' };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

/** Each subscription's backlog and lag at the end of the run, as the service's gauges read them. */
async function reportOutboxLag(pool: Pool): Promise<string[]> {
  try {
    return formatOutboxSummary(await readOutboxGauges(pool));
  } catch (error) {
    return [`outbox      lag unavailable (${describeError(error)})`];
  }
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparsable url>';
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'timeout';
  // fetch hides the socket error (ECONNREFUSED...) in `cause`; pg puts the SQLSTATE in `code`.
  const cause = error.cause as { code?: unknown } | undefined;
  if (typeof cause?.code === 'string') return cause.code;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${code} ${error.message}` : error.message;
}

async function sendOne(target: UpdateTarget, options: SpamOptions, stats: RunStats) {
  const update = pickUpdate(options.ids);
  stats.recordSent();
  const startedAt = performance.now();
  const outcome = await target.send(update);
  const latencyMs = performance.now() - startedAt;
  if (outcome.ok) stats.recordOk(latencyMs);
  else stats.recordError(outcome.error, latencyMs);
}

function startProgress(stats: RunStats, durationMs: number): { stop(): void } {
  const stream = process.stderr;
  const interactive = stream.isTTY === true;
  const startedAt = performance.now();
  const meter = new RateMeter();
  meter.sample(0, 0);
  let lastPrintedAt = 0;

  const tick = (final: boolean) => {
    const elapsedMs = performance.now() - startedAt;
    const liveRate = meter.sample(elapsedMs, stats.completed);
    const line = formatProgress(elapsedMs, durationMs, stats, liveRate);
    if (interactive) {
      stream.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    } else if (final || elapsedMs - lastPrintedAt >= PLAIN_PROGRESS_EVERY_MS) {
      lastPrintedAt = elapsedMs;
      stream.write(`${line}\n`);
    }
  };

  const timer = setInterval(() => tick(false), PROGRESS_TICK_MS);
  return {
    stop() {
      clearInterval(timer);
      tick(true);
    },
  };
}

function formatProgress(elapsedMs: number, durationMs: number, stats: RunStats, rate: number) {
  const elapsed = `${(elapsedMs / 1000).toFixed(1)}s`.padStart(6);
  const bar = renderBar(elapsedMs / durationMs);
  return `${elapsed} ${bar} sent ${stats.sent}  errors ${stats.failed}  ${rate.toFixed(0)}/s`;
}

function formatSummary(
  options: SpamOptions,
  label: string,
  stats: RunStats,
  pacing: PacingResult,
  extraLines: string[],
): string {
  const seconds = pacing.elapsedMs / 1000;
  const achieved = seconds > 0 ? stats.completed / seconds : 0;
  const target = options.rate > 0 ? `${options.rate}/s` : 'unlimited';
  const lines = [
    `spam summary (${label})`,
    `sent        ${stats.sent}`,
    `ok          ${stats.ok}`,
    `errors      ${stats.failed}`,
    ...topErrors(stats.errorCounts).map(([key, count]) => `  ${String(count).padStart(8)}  ${key}`),
    `rate        ${achieved.toFixed(1)}/s over ${seconds.toFixed(1)} s (target ${target})`,
    `latency ms  ${formatLatencies(summarizeLatencies(stats.latenciesMs))}`,
  ];
  if (options.rate > 0 && achieved < options.rate * 0.95) {
    lines.push(
      `note        behind schedule by up to ${formatMs(pacing.maxLagMs)} ms: ` +
        'raise --concurrency, or the target is saturated',
    );
  }
  return [...lines, ...extraLines].join('\n') + '\n';
}

function formatLatencies(summary: LatencySummary): string {
  const parts: [string, number][] = [
    ['p50', summary.p50],
    ['p90', summary.p90],
    ['p99', summary.p99],
    ['max', summary.max],
  ];
  return parts.map(([name, value]) => `${name} ${formatMs(value)}`).join('  ');
}

function openTarget(options: SpamOptions): Promise<UpdateTarget> {
  return options.mode === 'api'
    ? openApiTarget(options.url, options.databaseUrl)
    : openSqlTarget(options.databaseUrl, options.concurrency);
}

async function main(): Promise<number> {
  let options: SpamOptions;
  try {
    options = parseSpamArgs(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`spam: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  let target: UpdateTarget;
  try {
    target = await openTarget(options);
  } catch (error) {
    if (!(error instanceof StartError)) throw error;
    process.stderr.write(`spam: ${error.message}\n`);
    return 1;
  }

  // First Ctrl-C ends the run early and still prints the summary; a second one quits at once.
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
    process.stderr.write('\nstopping: waiting for updates in flight (Ctrl-C again to quit)\n');
  };
  process.on('SIGINT', onSigint);

  const stats = new RunStats();
  const progress = startProgress(stats, options.durationSec * 1000);
  const pacing = await runPaced(
    {
      rate: options.rate,
      durationMs: options.durationSec * 1000,
      concurrency: options.concurrency,
      signal: abort.signal,
    },
    () => sendOne(target, options, stats),
  );
  progress.stop();

  const extraLines = await target.report();
  await target.close();
  process.off('SIGINT', onSigint);
  process.stdout.write(formatSummary(options, target.label, stats, pacing, extraLines));
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
