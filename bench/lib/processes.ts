import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

export interface ServerProcess {
  url: string;
  pid: number;
  /** Peak resident set size (MB) seen since start or the last resetPeakRss(). */
  peakRssMb(): number;
  resetPeakRss(): void;
  stop(): Promise<void>;
}

/** Resident set size of a process in MB, from /proc (Linux); NaN elsewhere. */
function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

/**
 * Starts an entry point (the service, or the bare server) as its own Node process, so that its
 * CPU, event loop and memory are its own, and waits until `readyPath` answers 200. A `.js` entry
 * runs as is; a `.ts` one through ts-node (transpile only).
 */
export async function startServer(
  entry: string,
  env: Record<string, string>,
  port: number,
  readyPath = '/readyz',
): Promise<ServerProcess> {
  const loader = entry.endsWith('.ts') ? ['-r', 'ts-node/register/transpile-only'] : [];
  const child: ChildProcess = spawn(process.execPath, [...loader, path.join(ROOT, entry)], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(url + readyPath)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode} at start`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${entry} not ready on ${url}${readyPath} within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMb(child.pid!) || 0);
  }, 100);
  sampler.unref();
  return {
    url,
    pid: child.pid!,
    peakRssMb: () => Math.max(peak, rssMb(child.pid!) || 0),
    resetPeakRss: () => {
      peak = 0;
    },
    async stop() {
      clearInterval(sampler);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Compiles the service as it is deployed (`npm run build`, into dist/). The bench runs that, not
 * ts-node: the TypeScript compiler that ts-node keeps loaded is ~90 MB of the process's memory.
 */
export function buildService(): void {
  const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
  const result = spawnSync(tsc, ['-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run build failed (exit ${result.status})`);
}

/** The compiled service (buildService) with bench settings: LOG_LEVEL=warn. */
export function startBenchService(
  databaseUrl: string,
  port: number,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  return startServer('dist/main.js', { DATABASE_URL: databaseUrl, ...env }, port);
}
