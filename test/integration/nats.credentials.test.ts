import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect, nkeys, type ConnectionOptions, type NatsConnection } from 'nats';
import type pg from 'pg';
import pino from 'pino';
import type { OutboxEvent } from '../../src/outbox/event-types';
import { createNatsSink, natsSinks } from '../../src/sinks/nats.sink';
import type { Sink } from '../../src/sinks/sink';
import { describeWithNats, readStream, startNatsServer, type OwnNatsServer } from '../helpers/nats';
import { testConfig } from '../helpers/service';

const signal = new AbortController().signal;
const event = {
  id: '1',
  aggregateType: 'order',
  aggregateId: '5',
  type: 'order.status_changed',
  payload: {},
  createdAt: new Date(),
  attempt: 1,
} as OutboxEvent;

const PASSWORD = 'pw-n0t-in-logs-4711';
const TOKEN = 'tok-n0t-in-logs-0815';
const noPool = undefined as unknown as pg.Pool;

describeWithNats('NATS credentials (a nats-server of the test own, with authorization)', () => {
  let server: OwnNatsServer | undefined;
  let sink: Sink | undefined;
  let dir: string | undefined;
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void logs.push(l) });
  afterEach(async () => {
    await sink?.close?.().catch(() => undefined);
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    sink = server = dir = undefined;
    logs.length = 0;
  });

  /** The sink as the configuration makes it; the stream is read back with `admin` credentials. */
  async function publishThrough(env: Record<string, string>, admin: ConnectionOptions) {
    const config = testConfig({ ...env, NATS_STREAM: 'CREDS', NATS_SUBJECT_PREFIX: 'creds' });
    [sink] = natsSinks({ config, pool: noPool, logger });
    await sink!.deliver(event, { signal });
    const nc: NatsConnection = await connect(admin);
    try {
      return await readStream(nc, 'CREDS');
    } finally {
      await nc.close();
    }
  }

  test('user and password in NATS_URL are used, and never logged', async () => {
    server = await startNatsServer(`authorization { user: app, password: "${PASSWORD}" }`);
    const url = server.url.replace('nats://', `nats://app:${PASSWORD}@`);
    const messages = await publishThrough(
      { NATS_URL: url },
      { servers: server.url, user: 'app', pass: PASSWORD },
    );
    expect(messages.map((m) => m.msgId)).toEqual(['1']);
    expect(logs.join('')).toContain('connected to NATS');
    expect(logs.join('')).not.toContain(PASSWORD);
  });

  test('a token in NATS_URL (nats://<token>@host) is used, and never logged', async () => {
    server = await startNatsServer(`authorization { token: "${TOKEN}" }`);
    const url = server.url.replace('nats://', `nats://${TOKEN}@`);
    const messages = await publishThrough({ NATS_URL: url }, { servers: server.url, token: TOKEN });
    expect(messages.map((m) => m.msgId)).toEqual(['1']);
    expect(logs.join('')).not.toContain(TOKEN);
  });

  test('a credentials file (NATS_CREDS_FILE: user JWT and nkey seed) is used', async () => {
    const user = nkeys.createUser();
    server = await startNatsServer(`authorization { users: [ { nkey: ${user.getPublicKey()} } ] }`);
    const seed = new TextDecoder().decode(user.getSeed());
    // Without an operator the server checks the nkey's signature of its nonce, not the JWT.
    const creds = [
      '-----BEGIN NATS USER JWT-----',
      'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.unused',
      '------END NATS USER JWT------',
      '',
      '-----BEGIN USER NKEY SEED-----',
      seed,
      '------END USER NKEY SEED------',
      '',
    ].join('\n');
    dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-creds-'));
    await writeFile(path.join(dir, 'app.creds'), creds, { mode: 0o600 });
    const messages = await publishThrough(
      { NATS_URL: server.url, NATS_CREDS_FILE: path.join(dir, 'app.creds') },
      { servers: server.url, authenticator: nkeyAuthenticatorFor(user.getSeed()) },
    );
    expect(messages.map((m) => m.msgId)).toEqual(['1']);
    expect(logs.join('')).not.toContain(seed);
  });

  test('a NATS_CREDS_FILE that cannot be read stops the start, naming the file', () => {
    const config = testConfig({
      NATS_URL: 'nats://127.0.0.1:1',
      NATS_CREDS_FILE: '/nonexistent/app.creds',
    });
    expect(() => natsSinks({ config, pool: noPool, logger })).toThrow(
      'NATS_CREDS_FILE /nonexistent/app.creds cannot be read: ENOENT',
    );
  });

  test('a wrong password is a failure naming the server, never the password', async () => {
    server = await startNatsServer(`authorization { user: app, password: "${PASSWORD}" }`);
    const wrong = 'wr0ng-pw-n0t-in-logs';
    sink = createNatsSink({
      url: server.url.replace('nats://', `nats://app:${wrong}@`),
      stream: 'CREDS',
      subjectPrefix: 'creds',
      logger,
    });
    const error = await sink.deliver(event, { signal }).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(error?.message).toMatch(
      new RegExp(`^cannot connect to NATS at ${server.url}: .*authorization`, 'i'),
    );
    expect(error?.message).not.toContain(wrong);
    expect(logs.join('')).not.toContain(wrong);
  });
});

/** How a client holding the seed proves it: the nkey's signature of the server's nonce. */
function nkeyAuthenticatorFor(seed: Uint8Array) {
  return (nonce?: string) => {
    const kp = nkeys.fromSeed(seed);
    return {
      nkey: kp.getPublicKey(),
      sig: nkeys.encode(kp.sign(new TextEncoder().encode(nonce ?? ''))),
    };
  };
}
