import { createPool } from '../../src/db/pool';
import { createLogger } from '../../src/observability/logger';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

const logger = createLogger({ level: 'silent' });

async function setting(synchronousCommit?: string): Promise<string> {
  const pool = createPool({ connectionString: db.url, max: 1, logger, synchronousCommit });
  try {
    const { rows } = await pool.query<{ synchronous_commit: string }>('show synchronous_commit');
    return rows[0]!.synchronous_commit;
  } finally {
    await pool.end();
  }
}

test("a pool's synchronous_commit applies to its sessions; unset keeps the server's", async () => {
  const { rows } = await db.pool.query<{ synchronous_commit: string }>('show synchronous_commit');
  const servers = rows[0]!.synchronous_commit;
  for (const value of ['off', 'local', 'on']) expect(await setting(value)).toBe(value);
  expect(await setting()).toBe(servers);
});
