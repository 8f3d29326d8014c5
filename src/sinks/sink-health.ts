import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
import type { OutboxEvents } from '../outbox/events';
import type { Sink } from './sink';

/** How long start-up waits for the sinks' checks; a slower one goes on in the background. */
export const SINK_CHECK_MS = 5_000;

/**
 * What is wrong with each sink, as far as this instance knows: its start-up check failed, or its
 * subscription is backing off because every call fails. Cleared by the sink's next delivery. Shown
 * in /readyz (degraded: the API and the other sinks work) and logged when it arises.
 */
export interface SinkHealth {
  /** Runs every sink's check (at most SINK_CHECK_MS before it resolves). */
  checkAll(sinks: readonly Sink[]): Promise<void>;
  problems(): { sink: string; problem: string }[];
  close(): void;
}

export function createSinkHealth(deps: { events: OutboxEvents; logger: Logger }): SinkHealth {
  const logger = deps.logger.child({ component: 'sinks' });
  const problems = new Map<string, string>();
  const names = new Set<string>();

  const onSettled = (e: { subscription: string; status: string }) => {
    if (e.status === 'done') problems.delete(e.subscription);
  };
  const onBackoff = (e: { subscription: string; error: string }) => {
    if (names.has(e.subscription)) problems.set(e.subscription, `every call fails: ${e.error}`);
  };
  deps.events.on('settled', onSettled);
  deps.events.on('subscription:backoff', onBackoff);

  return {
    async checkAll(sinks) {
      for (const s of sinks) names.add(s.name);
      const checks = sinks.map(async (sink) => {
        try {
          await sink.check?.();
        } catch (err) {
          const problem = errorMessage(err);
          problems.set(sink.name, problem);
          logger.error(
            { sink: sink.name, problem },
            'this sink cannot work as configured: its events wait (and its subscription backs off) until it can; the other sinks go on',
          );
        }
      });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(checks),
        new Promise((resolve) => {
          timer = setTimeout(resolve, SINK_CHECK_MS);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    },
    problems: () => [...problems].map(([sink, problem]) => ({ sink, problem })),
    close() {
      deps.events.off('settled', onSettled);
      deps.events.off('subscription:backoff', onBackoff);
    },
  };
}
