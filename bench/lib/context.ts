// What every section of the bench is given: sizes, repetitions, where to record figures and goals.
import type { Logger } from '../../src/observability/logger';
import type { CpuAccounting } from './cpu';
import type { Goal } from './stats';

export const SIZES = {
  full: {
    captureSeconds: 5,
    drainEvents: 100_000,
    latencyRate: 100,
    latencySeconds: 10,
    httpSeconds: 5,
    scaleDrainEvents: 20_000,
    scaleOldEvents: 1_000_000,
    walEvents: 10_000,
    walWarmup: 2_000,
    emailChanges: 2_000,
    deferredEvents: 200_000,
  },
  small: {
    captureSeconds: 2,
    drainEvents: 5_000,
    latencyRate: 100,
    latencySeconds: 3,
    httpSeconds: 2,
    scaleDrainEvents: 2_000,
    scaleOldEvents: 20_000,
    walEvents: 2_000,
    walWarmup: 500,
    emailChanges: 300,
    deferredEvents: 20_000,
  },
};

export type BenchSize = (typeof SIZES)['full'];

/** Ports of the processes the bench starts (one at a time). */
export const SERVICE_PORT = 3191;
export const BARE_PORT = 3192;

export interface BenchContext {
  /** A superuser URL of the bench's PostgreSQL server (it creates bench_* databases). */
  serverUrl: string;
  size: BenchSize;
  runs: number;
  /** Connections of our dispatcher's pool, loops of the c0c2466 replay, jobs in flight of peers. */
  concurrency: number;
  logger: Logger;
  cpu: CpuAccounting;
  /** Records a figure (one value per run); returns its median. */
  record(section: string, name: string, unit: string, runs: number[]): number;
  goal(goal: Goal): void;
  /** Keeps detail for bench/results.json (not printed in the tables). */
  note(key: string, value: unknown): void;
  /** Runs `fn` `runs` times, one after the other. */
  repeat<T>(fn: (run: number) => Promise<T>): Promise<T[]>;
}

/** Environment of our service in the bench. */
export function serviceEnv(
  ctx: Pick<BenchContext, 'concurrency'>,
  wakeup: 'gated' | 'notify' = 'gated',
): Record<string, string> {
  return { OUTBOX_WAKEUP: wakeup, OUTBOX_CONCURRENCY: String(ctx.concurrency) };
}
