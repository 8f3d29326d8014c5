import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { LEGACY_CHECKSUMS } from '../../src/db/legacy-checksums';
import { loadMigrations, migrate, MIGRATIONS_DIR } from '../../src/db/migrate';
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

/** A logger that keeps the messages of its warnings. */
function recordingLogger() {
  const warnings: string[] = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => void warnings.push(JSON.parse(line).msg) },
  );
  return { logger, warnings };
}

describe('an applied migration edited since', () => {
  let db: TestDatabase;
  let dir: string;
  const file = () => path.join(dir, '0001_example.sql');
  const example = (comment: string, statement: string, body: string) =>
    `-- ${comment}
${statement}

create function f() returns int
language plpgsql as $$
` +
    `begin
  ${body}
  return 1;
end;
$$;
`;
  const original = example('Creates t.', 'create table t (a int);', '-- in the body');

  beforeEach(async () => {
    db = await createTestDatabase({ migrated: false });
    dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-migrations-'));
    await writeFile(file(), original);
    await migrate(db.pool, logger, dir);
  });
  afterEach(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('only in comments or layout outside function bodies: no warning', async () => {
    await writeFile(
      file(),
      example(
        'Creates t; the story of why is in docs/.\n\n',
        'create table t (\n  a int\n);',
        '-- in the body',
      ),
    );
    const { logger: recording, warnings } = recordingLogger();
    expect(await migrate(db.pool, recording, dir)).toEqual([]);
    expect(warnings).toEqual([]);
  });

  test('in a statement, or in a function body: warns', async () => {
    const { logger: recording, warnings } = recordingLogger();
    await writeFile(file(), example('Creates t.', 'create table t (a bigint);', '-- in the body'));
    await migrate(db.pool, recording, dir);
    await writeFile(file(), example('Creates t.', 'create table t (a int);', '-- changed body'));
    await migrate(db.pool, recording, dir);
    expect(warnings).toEqual([
      expect.stringContaining('were edited since'),
      expect.stringContaining('were edited since'),
    ]);
  });
});

describe('a database migrated by a release that hashed whole files', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(() => db.drop());

  test('does not warn about the migrations whose comments moved to docs/history.md', async () => {
    // What schema_migrations of such a database holds: the old checksum of each file then.
    const { rowCount } = await db.pool.query(
      `update schema_migrations m set checksum = l.old
         from unnest($1::text[], $2::text[]) l(old, statements)
        where m.checksum = l.statements`,
      [[...LEGACY_CHECKSUMS.keys()], [...LEGACY_CHECKSUMS.values()]],
    );
    expect(rowCount).toBe((await loadMigrations()).filter((m) => m.version <= 46).length);
    const { logger: recording, warnings } = recordingLogger();
    expect(await migrate(db.pool, recording)).toEqual([]);
    expect(warnings).toEqual([]);
  });

  test('still warns about a migration whose statements changed since', async () => {
    const edited = (await readFile(path.join(MIGRATIONS_DIR, '0001_shop.sql'), 'utf8')).replace(
      'email text not null unique',
      'email text not null',
    );
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-migrations-'));
    try {
      await writeFile(path.join(dir, '0001_shop.sql'), edited);
      await db.pool.query(`update schema_migrations set checksum = $1 where version = 1`, [
        [...LEGACY_CHECKSUMS.keys()][0],
      ]);
      const { logger: recording, warnings } = recordingLogger();
      await migrate(db.pool, recording, dir);
      expect(warnings).toEqual([expect.stringContaining('were edited since')]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
