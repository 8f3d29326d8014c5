// The HTTP baseline: Express + pg doing the same UPDATE as PATCH /orders/update, on a database
// whose capture triggers are disabled, with no listener and no dispatcher. Started by bench/run.ts.
import express from 'express';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const app = express();
app.use(express.json());
app.get('/readyz', (_req, res) => {
  res.json({ ready: true });
});
app.patch('/orders/update', async (req, res) => {
  const { id, status } = req.body as { id: number; status: string };
  try {
    const { rows } = await pool.query({
      name: 'bare.update_order',
      text: `update orders set status = $2 where id = $1
             returning id, client_id, status, created_at, updated_at`,
      values: [id, status],
    });
    if (rows.length === 0) res.status(404).json({ error: { code: 'not_found' } });
    else res.json(rows[0]);
  } catch (err) {
    res.status(500).json({ error: { code: 'internal_error', message: (err as Error).message } });
  }
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  void pool.end();
});
