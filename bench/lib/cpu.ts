// CPU time of the bench process (the load generator, and the peers that run in it), of the service
// and of PostgreSQL over a phase, so that a reader can see which of them had the cores. Linux
// /proc only; where it is missing (another OS, a PostgreSQL on another host or in a container) the
// figure is NaN and prints as n/a.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type pg from 'pg';
import type { CpuRow } from './stats';

const TICKS_PER_SECOND = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(out.stdout?.trim()) || 100;
})();

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of a process: its own (utime + stime), plus with `children` those of its children,
 * live ones read directly and exited ones from its cutime + cstime (counted there once reaped), so
 * that a backend which exits in the middle of a phase is neither lost nor counted twice.
 */
function cpuSeconds(pid: number, children: boolean): number {
  const f = statFields(pid);
  if (!f) return NaN;
  // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
  let ticks = Number(f[11]) + Number(f[12]);
  if (children) {
    ticks += Number(f[13]) + Number(f[14]);
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const c = statFields(Number(entry));
      if (c && Number(c[1]) === pid) ticks += Number(c[11]) + Number(c[12]);
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/**
 * The postmaster's pid, when PostgreSQL runs on this machine in our pid namespace: the parent of
 * the backend serving `pool`, if that process is a postgres here. Undefined otherwise.
 */
export async function findPostmaster(pool: Pick<pg.Pool, 'query'>): Promise<number | undefined> {
  const { rows } = await pool.query<{ pid: number }>('select pg_backend_pid() as pid');
  const backend = rows[0]!.pid;
  if (!commandOf(backend)?.startsWith('postgres')) return undefined;
  const ppid = Number(statFields(backend)?.[1]);
  return commandOf(ppid)?.startsWith('postgres') ? ppid : undefined;
}

interface Sample {
  wall: number;
  bench: number;
  service: number;
  postgres: number;
}

export interface CpuAccounting {
  /** Runs `fn` and adds its wall time and the CPU time of each party to the phase `name`. */
  measure<T>(name: string, servicePid: number | undefined, fn: () => Promise<T>): Promise<T>;
  /** CPU used over the phases measured under each name, in cores (CPU s per wall s). */
  shares(): CpuRow[];
  readonly cores: number;
}

export function createCpuAccounting(postmasterPid: number | undefined): CpuAccounting {
  const totals = new Map<string, Sample>();
  const sample = (servicePid: number | undefined): Sample => {
    const own = process.cpuUsage();
    return {
      wall: performance.now() / 1000,
      bench: (own.user + own.system) / 1e6,
      service: servicePid === undefined ? NaN : cpuSeconds(servicePid, false),
      postgres: postmasterPid === undefined ? NaN : cpuSeconds(postmasterPid, true),
    };
  };
  return {
    cores: os.cpus().length,
    async measure(name, servicePid, fn) {
      const before = sample(servicePid);
      try {
        return await fn();
      } finally {
        const after = sample(servicePid);
        const t = totals.get(name) ?? { wall: 0, bench: 0, service: 0, postgres: 0 };
        totals.set(name, {
          wall: t.wall + after.wall - before.wall,
          bench: t.bench + after.bench - before.bench,
          service: t.service + after.service - before.service,
          postgres: t.postgres + after.postgres - before.postgres,
        });
      }
    },
    shares: () =>
      [...totals].map(([name, t]) => ({
        name,
        wallSeconds: t.wall,
        bench: t.bench / t.wall,
        service: t.service / t.wall,
        postgres: t.postgres / t.wall,
      })),
  };
}
