// (m) E-mail throughput with one hung webhook against e-mail alone. The service with SMTP_URL on a
// local SMTP server that accepts everything; in the second configuration also WEBHOOK_URLS naming
// an endpoint that accepts connections and never answers (WEBHOOK_TIMEOUT_MS 10 minutes, longer
// than the run). N status changes over N orders (one UPDATE each, its own transaction, on
// `concurrency` connections); e-mails/s = N / (last e-mail accepted - first UPDATE sent).
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { BENCH_ORDERS, createBenchDatabase } from '../lib/bench-db';
import { SERVICE_PORT, serviceEnv, type BenchContext } from '../lib/context';
import { startSmtpCatcher, startHungEndpoint, type SmtpCatcher } from '../lib/peers';
import { startBenchService } from '../lib/processes';
import { atLeast } from '../lib/stats';

/** How long a run waits for its e-mails; then e-mails/s is what arrived over that time. */
const EMAIL_TIMEOUT_MS = 60_000;

/** N status changes over the orders `orders`, then waits for N e-mails; returns e-mails/s. */
async function emailRun(
  pool: pg.Pool,
  smtp: SmtpCatcher,
  orders: number[],
  writers: number,
): Promise<number> {
  const first = smtp.arrivals.length;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < orders.length) {
        const id = orders[next++]!;
        await pool.query(
          `update orders set status = case when status = 'paid' then 'packed' else 'paid' end
            where id = $1`,
          [id],
        );
      }
    }),
  );
  const deadline = started + EMAIL_TIMEOUT_MS;
  while (smtp.arrivals.length - first < orders.length && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const got = smtp.arrivals.length - first;
  if (got < orders.length) {
    console.warn(`  m: ${got} of ${orders.length} e-mails within ${EMAIL_TIMEOUT_MS / 1000} s`);
    return (got * 1000) / (performance.now() - started);
  }
  return (orders.length * 1000) / (smtp.arrivals[first + orders.length - 1]! - started);
}

export async function benchEmail(ctx: BenchContext): Promise<void> {
  const n = ctx.size.emailChanges;
  console.log(`(m) e-mail: ${n} status changes over ${n} orders, alone and with a hung webhook`);
  const db = await createBenchDatabase(ctx.serverUrl, 'bench_email', ctx.logger);
  const smtp = await startSmtpCatcher();
  const hung = await startHungEndpoint();
  const mailOnly = {
    ...serviceEnv(ctx),
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Outbox Bench <bench@bench.example>',
    // A stop aborts the hung calls after this instead of waiting 10 s for them.
    OUTBOX_SHUTDOWN_MS: '2000',
  };
  const configs = {
    alone: mailOnly,
    hung: {
      ...mailOnly,
      WEBHOOK_URLS: `stuck=${hung.url}`,
      WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}`,
      WEBHOOK_TIMEOUT_MS: '600000',
    },
  };
  const rates: Record<keyof typeof configs, number[]> = { alone: [], hung: [] };
  let batch = 0;
  try {
    await ctx.repeat(async (run) => {
      const order: (keyof typeof configs)[] = run % 2 === 0 ? ['alone', 'hung'] : ['hung', 'alone'];
      for (const key of order) {
        // Fresh orders each time (wrapping around the table): one event per order.
        const orders = Array.from({ length: n }, (_, i) => 1 + ((batch * n + i) % BENCH_ORDERS));
        batch++;
        const service = await startBenchService(db.url, SERVICE_PORT, configs[key]);
        try {
          const rate = await ctx.cpu.measure(`m e-mail, ${key}`, service.pid, () =>
            emailRun(db.pool, smtp, orders, ctx.concurrency),
          );
          if (key === 'hung' && hung.connections === 0) {
            console.warn('  m: the hung webhook got no connection: the run does not test it');
          }
          rates[key].push(rate);
        } finally {
          await service.stop();
          hung.reset();
        }
      }
    });
    const alone = ctx.record('m e-mail', 'e-mails/s, e-mail alone', 'mails/s', rates.alone);
    const withHung = ctx.record(
      'm e-mail',
      'e-mails/s, with one hung webhook',
      'mails/s',
      rates.hung,
    );
    ctx.goal(atLeast('e-mail throughput: with a hung webhook / alone', withHung, alone, 0.9));
  } finally {
    await hung.close();
    await smtp.close();
    await db.pool.end();
  }
}
