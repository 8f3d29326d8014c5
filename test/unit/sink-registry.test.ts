import pg from 'pg';
import { parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/observability/logger';
import { builtInHandlers } from '../../src/service';
import { closeSinks, createSinks } from '../../src/sinks/sink-registry';

const logger = createLogger({ level: 'silent' });
// Never connects: sinks only touch the database when they deliver.
const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
afterAll(() => pool.end());

function sinksFor(env: Record<string, string>) {
  return createSinks({ config: parseConfig(env), pool, logger });
}

describe('the sink registry', () => {
  test('no sink variables: no sinks, only the recorded notification', () => {
    expect(sinksFor({})).toEqual([]);
    expect(builtInHandlers([]).map((h) => h.name)).toEqual(['notify-client']);
  });

  test('the configuration turns each sink on: one webhook sink per URL, named after its host', async () => {
    const sinks = sinksFor({
      SMTP_URL: 'smtp://127.0.0.1:2525',
      WEBHOOK_URLS: 'https://a.example/hooks?token=s3cret, https://b.example/in',
      WEBHOOK_SECRET: `whsec_${Buffer.from('0123456789abcdef0123').toString('base64')}`,
      NATS_URL: 'nats://127.0.0.1:4222',
    });
    try {
      expect(sinks.map((s) => [s.name, s.eventTypes])).toEqual([
        ['email', ['order.status_changed']],
        ['webhook:a.example', '*'],
        ['webhook:b.example', '*'],
        ['nats', '*'],
      ]);
      expect(builtInHandlers(sinks).map((h) => h.name)).toEqual([
        'notify-client',
        'email',
        'webhook:a.example',
        'webhook:b.example',
        'nats',
      ]);
    } finally {
      await closeSinks(sinks, logger);
    }
  });
});
