import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, startChild, type ChildProcessHandle } from './child-service';

/**
 * A PostgreSQL of the test's own (never the machine's shared one), which it may stop and start:
 * the same data directory and port each time, so the service's DATABASE_URL stays valid.
 */
export interface StoppablePostgres {
  /** The superuser's postgres://outbox_admin:<generated>@127.0.0.1:<port>/outbox */
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its data directory. */
  destroy(): Promise<void>;
}

export async function startStoppablePostgres(): Promise<StoppablePostgres> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-fault-pg-'));
  const env = { PG_DATA_DIR: path.join(dir, 'data'), PG_PORT: String(await freePort()) };
  let child: ChildProcessHandle | undefined;
  let url = '';

  async function start(): Promise<void> {
    child = startChild('test/helpers/embedded-pg.child.ts', env);
    // The first start runs initdb: allow for a busy machine.
    const line = await child.waitForLine(/^ready /, 60_000);
    url = line.slice('ready '.length).trim();
  }
  async function stop(): Promise<void> {
    const running = child;
    child = undefined;
    if (!running?.running) return;
    running.kill('SIGTERM');
    const exit = await running.exited;
    if (exit.code !== 0) throw new Error(`PostgreSQL stopped badly: ${JSON.stringify(exit)}`);
  }

  await start();
  return {
    get url() {
      return url;
    },
    stop,
    start,
    async destroy() {
      await stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
