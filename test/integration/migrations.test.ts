import pg from 'pg';
import { loadMigrations, migrate } from '../../src/db/migrate';
import { createLogger } from '../../src/observability/logger';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

const logger = createLogger({ level: 'silent' });

describe('migrations', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase({ migrated: false });
  });
  afterEach(() => db.drop());

  test('apply every file once, and applying them again is a no-op', async () => {
    const files = (await loadMigrations()).map((m) => m.name);
    expect(await migrate(db.pool, logger)).toEqual(files);
    expect(await migrate(db.pool, logger)).toEqual([]);
    const { rows } = await db.pool.query('select name from schema_migrations order by version');
    expect(rows.map((r) => r.name)).toEqual(files);
  });

  test('two instances migrating at once apply each migration exactly once', async () => {
    const other = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      const [a, b] = await Promise.all([migrate(db.pool, logger), migrate(other, logger)]);
      expect([...a, ...b].sort()).toEqual((await loadMigrations()).map((m) => m.name).sort());
    } finally {
      await other.end();
    }
  });
});
