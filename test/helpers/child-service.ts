import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { waitFor } from './wait';

const ROOT = path.resolve(__dirname, '../..');
const TS_NODE = path.join(ROOT, 'node_modules/.bin/ts-node');

/** A free TCP port on 127.0.0.1 (closed again at once; good enough for a test). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = (server as net.Server).address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process run with ts-node (the service's src/main.ts, or a test script) that a test may kill. */
export interface ChildProcessHandle {
  pid: number;
  /** Resolves when the process has exited. */
  exited: Promise<ChildExit>;
  readonly running: boolean;
  kill(signal: NodeJS.Signals): void;
  /** The last lines it wrote (stdout and stderr), for failure messages. */
  output(): string;
  /** Resolves with the first output line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

const children = new Set<ChildProcessHandle>();

export function startChild(script: string, env: Record<string, string>): ChildProcessHandle {
  const child: ChildProcess = spawn(TS_NODE, ['--transpile-only', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const onLine: ((line: string) => void)[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      lines.push(line);
      if (lines.length > 200) lines.shift();
      for (const fn of [...onLine]) fn(line);
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let running = true;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      children.delete(handle);
      resolve({ code, signal });
    });
  });
  const handle: ChildProcessHandle = {
    pid: child.pid!,
    exited,
    get running() {
      return running;
    },
    kill(signal) {
      if (running) child.kill(signal);
    },
    output: () => lines.join('\n'),
    waitForLine(pattern, timeoutMs = 30_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          onLine.splice(onLine.indexOf(check), 1);
          reject(
            new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${handle.output()}`),
          );
        }, timeoutMs);
        const check = (line: string) => {
          if (!pattern.test(line)) return;
          clearTimeout(timer);
          onLine.splice(onLine.indexOf(check), 1);
          resolve(line);
        };
        onLine.push(check);
        void exited.then(() => {
          if (!onLine.includes(check)) return;
          clearTimeout(timer);
          onLine.splice(onLine.indexOf(check), 1);
          reject(new Error(`exited before printing ${pattern}:\n${handle.output()}`));
        });
      });
    },
  };
  children.add(handle);
  return handle;
}

export interface ChildService extends ChildProcessHandle {
  url: string;
}

/**
 * The real service (`ts-node --transpile-only src/main.ts`) in a child process on `databaseUrl`,
 * on a free port; resolves once /readyz answers 200. `env` adds or overrides variables. No sink
 * is on unless `env` turns it on: the test's own environment (CI sets NATS_URL) must not decide
 * which path the child takes.
 */
export async function startChildService(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<ChildService> {
  const port = await freePort();
  const child = startChild('src/main.ts', {
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    OUTBOX_POLL_INTERVAL_MS: '500',
    OUTBOX_RETRY_BASE_MS: '50',
    NATS_URL: '',
    WEBHOOK_URLS: '',
    SMTP_URL: '',
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      'the child service to be ready',
      async () => {
        if (!child.running) throw new Error(`exited:\n${child.output()}`);
        const res = await fetch(`${url}/readyz`);
        return res.status === 200;
      },
      { timeoutMs: 40_000, intervalMs: 100 },
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${child.output()}`);
  }
  return Object.assign(child, { url });
}

/** After each test: SIGKILLs every child a test left running. */
export async function killAllChildren(): Promise<void> {
  const left = [...children];
  for (const child of left) child.kill('SIGKILL');
  await Promise.all(left.map((c) => c.exited));
}
