import { createHash } from 'node:crypto';
import {
  checksumMatches,
  migrationChecksum,
  migrationStatements,
} from '../../src/db/migration-checksum';
import { LEGACY_CHECKSUMS } from '../../src/db/legacy-checksums';
import { loadMigrations } from '../../src/db/migrate';

const fn = (body: string) =>
  `create function f() returns int\nlanguage plpgsql as $fn$\n${body}\n$fn$;\n`;

describe('the statements a migration checksum covers', () => {
  test('comments outside literals and bodies, and whitespace between tokens, are left out', () => {
    expect(
      migrationStatements(`-- what it does
/* a block /* nested */ still a comment */
create   table t (
  id int, -- the key

  name text
);
`),
    ).toBe('create table t(id int,name text);');
  });

  test('a comment-only or whitespace-only edit keeps the checksum', () => {
    const before = `-- Why, at length.\n-- More history.\ncreate index i on t (a);\n`;
    const after = `-- Creates i.\n\ncreate index i\n  on t (a);   \n`;
    expect(migrationChecksum(after)).toBe(migrationChecksum(before));
  });

  test('a statement edit changes it', () => {
    const before = `-- Creates i.\ncreate index i on t (a);\n`;
    expect(migrationChecksum(`-- Creates i.\ncreate index i on t (b);\n`)).not.toBe(
      migrationChecksum(before),
    );
  });

  test('-- and /* inside strings and quoted identifiers are text, not comments', () => {
    const sql = `select '-- kept','it''s /* kept */',E'\\' -- kept',"a--b" from t;`;
    expect(migrationStatements(sql)).toBe(sql);
    expect(migrationChecksum(sql.replace("'-- kept'", "'-- other'"))).not.toBe(
      migrationChecksum(sql),
    );
  });

  test('a function body is kept as written, its comments included', () => {
    const body = `begin\n  -- why the function does this\n  return 1;\nend;`;
    expect(migrationStatements(fn(body))).toContain(body);
    expect(migrationChecksum(fn(body.replace('why', 'how')))).not.toBe(migrationChecksum(fn(body)));
    // Trailing whitespace in a body is what an editor strips on save: ignored.
    expect(migrationChecksum(fn(body.replace('return 1;', 'return 1;  ')))).toBe(
      migrationChecksum(fn(body)),
    );
  });

  test('$1 is a parameter, not a dollar quote; $$ bodies and tagged ones both close', () => {
    expect(migrationStatements(`prepare p as select $1 -- x\n, 2;`)).toBe(
      'prepare p as select $1,2;',
    );
    expect(migrationStatements(`do $$ -- in\n $$; -- out`)).toBe('do $$ -- in\n $$;');
    expect(migrationStatements(`do $a$ $$ -- in $a$; -- out`)).toBe('do $a$ $$ -- in $a$;');
  });
});

describe('checksums recorded before comments were ignored (whole-file sha256)', () => {
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

  test("match when the file is unchanged, or when its statements are that version's", () => {
    const sql = '-- old comment\ncreate table t (a int);\n';
    expect(checksumMatches(sha256(sql), sql)).toBe(true);
    expect(checksumMatches(sha256(sql), '-- new comment\ncreate table t (a int);\n')).toBe(false);
  });

  test('every migration applied before the change matches its whole-file checksum of then', async () => {
    // The statements of 0001-0046 were not edited when their prose moved to docs/history.md:
    // each file's statements are those of its last version under the old checksum.
    for (const m of (await loadMigrations()).filter((x) => x.version <= 46)) {
      const legacy = [...LEGACY_CHECKSUMS].filter(([, statements]) => statements === m.checksum);
      expect({ migration: m.name, versions: legacy.length }).toEqual({
        migration: m.name,
        versions: 1,
      });
      expect(checksumMatches(legacy[0]![0], m.sql)).toBe(true);
    }
  });
});
