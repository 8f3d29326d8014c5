import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { TestDatabase } from './db';

const ROLES_DIR = path.resolve(__dirname, '../../db/roles');

/**
 * Does what `psql -v name=value -f file` does with the file's `:"name"` (identifier) and
 * `:'name'` (literal) variables, so tests run the documented SQL files without psql.
 */
export function interpolatePsqlVariables(sql: string, vars: Record<string, string>): string {
  const value = (name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`psql variable ${name} is not set`);
    return v;
  };
  return sql
    .replace(/:"(\w+)"/g, (_m, name: string) => pg.escapeIdentifier(value(name)))
    .replace(/:'(\w+)'/g, (_m, name: string) => pg.escapeLiteral(value(name)));
}

async function runRoleFile(
  connectionString: string,
  file: string,
  vars: Record<string, string>,
): Promise<void> {
  const sql = interpolatePsqlVariables(await readFile(path.join(ROLES_DIR, file), 'utf8'), vars);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface AppRole {
  name: string;
  password: string;
  /** The test database's URL, logged in as this role. */
  url: string;
  /** Drops the role; drop its databases first (a role with privileges cannot be dropped). */
  drop(): Promise<void>;
}

/**
 * The least-privileged application role of db/roles/, created with the documented SQL files on
 * the test server (roles are per cluster, so the name is random) and granted on `db`.
 */
export async function createAppRole(
  db: TestDatabase,
  opts: { password?: string } = {},
): Promise<AppRole> {
  const name = `outbox_app_${randomBytes(4).toString('hex')}`;
  const password = opts.password ?? randomBytes(12).toString('hex');
  const vars = { app_role: name, app_password: password };
  await runRoleFile(db.url, 'create-app-role.sql', vars);
  await runRoleFile(db.url, 'grant-app-role.sql', vars);
  const url = new URL(db.url);
  url.username = name;
  url.password = password;
  return {
    name,
    password,
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: process.env.TEST_SERVER_URL });
      await client.connect();
      try {
        await client.query(`drop role if exists ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
    },
  };
}
