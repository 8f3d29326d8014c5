// graphile-worker as a peer: its batched drain of no-op jobs, and add_job -> task start latency.
// Settings from its performance page: a local queue (batched fetch) and batched completion.
import { Logger, makeWorkerUtils, run, type Runner, type TaskList } from 'graphile-worker';
import type pg from 'pg';
import { percentile } from '../lib/stats';

const silent = new Logger(() => () => {});

function startRunner(url: string, concurrency: number, taskList: TaskList): Promise<Runner> {
  return run({
    connectionString: url,
    concurrency,
    maxPoolSize: concurrency + 2,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: silent,
    taskList,
    preset: {
      worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    },
  });
}

async function waitEmpty(pool: pg.Pool, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ n: string }>(
      'select count(*) as n from graphile_worker.jobs',
    );
    if (Number(rows[0]!.n) === 0) return;
    if (Date.now() > deadline) throw new Error(`graphile-worker: jobs left after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Jobs/s from the first task start until the jobs table is empty (completions committed). */
export async function graphileDrain(
  url: string,
  pool: pg.Pool,
  jobs: number,
  concurrency: number,
): Promise<number> {
  const utils = await makeWorkerUtils({ connectionString: url, logger: silent });
  try {
    await utils.migrate();
    for (let left = jobs; left > 0; left -= 10_000) {
      const n = Math.min(left, 10_000);
      await utils.addJobs(Array.from({ length: n }, () => ({ identifier: 'noop', payload: {} })));
    }
  } finally {
    await utils.release();
  }
  let firstAt = 0;
  const runner = await startRunner(url, concurrency, {
    noop: async () => {
      firstAt ||= performance.now();
    },
  });
  try {
    await waitEmpty(pool, 600_000);
    return (jobs * 1000) / (performance.now() - firstAt);
  } finally {
    await runner.stop();
  }
}

/** add_job -> task start latencies (ms) at `rate` jobs/s for `seconds`. */
export async function graphileLatency(
  url: string,
  pool: pg.Pool,
  rate: number,
  seconds: number,
  concurrency: number,
): Promise<number[]> {
  const latencies: number[] = [];
  const runner = await startRunner(url, concurrency, {
    stamp: async (payload) => {
      latencies.push(performance.now() - (payload as { t: number }).t);
    },
  });
  const utils = await makeWorkerUtils({ connectionString: url, logger: silent });
  try {
    const total = Math.round(rate * seconds);
    const started = performance.now();
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      void utils.addJob('stamp', { t: performance.now() });
    }
    await waitEmpty(pool, 60_000);
    return latencies;
  } finally {
    await utils.release();
    await runner.stop();
  }
}

export function summary(ms: number[]) {
  return { p50: percentile(ms, 50), p95: percentile(ms, 95), p99: percentile(ms, 99) };
}
