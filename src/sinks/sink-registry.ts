import { errorMessage } from '../db/errors';
import type { Logger } from '../observability/logger';
import { emailSinks } from './email.sink';
import { natsSinks } from './nats.sink';
import type { Sink, SinkDeps, SinkFactory } from './sink';
import { webhookSinks } from './webhook.sink';

/** Every kind of sink the service knows. Adding one: a module with a SinkFactory, and a line here. */
const SINK_FACTORIES: readonly SinkFactory[] = [emailSinks, webhookSinks, natsSinks];

/** The sinks the configuration turns on. */
export function createSinks(deps: SinkDeps): Sink[] {
  const sinks = SINK_FACTORIES.flatMap((factory) => factory(deps));
  deps.logger.info(
    { sinks: sinks.map((s) => s.name) },
    sinks.length ? 'sinks on' : 'no sinks configured',
  );
  return sinks;
}

/** Closes every sink; one that fails to close is logged and does not keep the others open. */
export async function closeSinks(sinks: readonly Sink[], logger: Logger): Promise<void> {
  await Promise.all(
    sinks.map(async (sink) => {
      try {
        await sink.close?.();
      } catch (err) {
        logger.warn({ sink: sink.name, err: errorMessage(err) }, 'sink did not close cleanly');
      }
    }),
  );
}
