// pg-boss as a peer: its drain of no-op jobs, fetched and completed in batches.
// batchSize 500: each worker waits its polling interval (0.5 s, the minimum) between fetches, so
// with 100 per fetch 4 workers top out at ~800 jobs/s (measured) and 100,000 jobs would take
// minutes of the bench's 15.
import PgBoss from 'pg-boss';
import type pg from 'pg';

/** Jobs/s from the first batch until every job is completed. */
export async function pgBossDrain(
  url: string,
  pool: pg.Pool,
  jobs: number,
  concurrency: number,
): Promise<number> {
  const boss = new PgBoss({ connectionString: url, max: concurrency + 2, schedule: false });
  boss.on('error', () => undefined);
  await boss.start();
  try {
    await boss.createQueue('noop');
    for (let left = jobs; left > 0; left -= 10_000) {
      const n = Math.min(left, 10_000);
      await boss.insert(Array.from({ length: n }, () => ({ name: 'noop', data: {} })));
    }
    let firstAt = 0;
    for (let i = 0; i < concurrency; i++) {
      await boss.work('noop', { batchSize: 500, pollingIntervalSeconds: 0.5 }, async () => {
        firstAt ||= performance.now();
      });
    }
    const deadline = Date.now() + 600_000;
    for (;;) {
      const { rows } = await pool.query<{ n: string }>(
        `select count(*) as n from pgboss.job where name = 'noop' and state <> 'completed'`,
      );
      if (Number(rows[0]!.n) === 0) break;
      if (Date.now() > deadline) throw new Error('pg-boss: jobs left after 600 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const rate = (jobs * 1000) / (performance.now() - firstAt);
    await pool.query(`delete from pgboss.job where name = 'noop'`);
    return rate;
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 5_000 });
  }
}
