import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { freePort } from './child-service';

/**
 * NATS tests need a real server (NATS_URL; .ci/run sets it). Chosen at load time so that, without
 * one, they are reported as skipped, never as passed.
 */
export const NATS_URL = process.env.NATS_URL;
export const describeWithNats = NATS_URL ? describe : describe.skip;

/**
 * A stream and subject prefix of this test alone: two streams may not capture overlapping
 * subjects, and other test runs may share the server.
 */
export function uniqueNatsNames(): { stream: string; subjectPrefix: string } {
  const tag = randomBytes(4).toString('hex');
  return { stream: `OUTBOX_TEST_${tag}`, subjectPrefix: `outbox_test_${tag}` };
}

export async function natsConnection(): Promise<NatsConnection> {
  return connect({ servers: NATS_URL! });
}

/** Deletes the stream if it exists (cleanup after a test). */
export async function deleteStream(nc: NatsConnection, stream: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(stream).catch(() => undefined);
}

/** Every message of a stream, in stream order, with its Nats-Msg-Id. */
export async function readStream(
  nc: NatsConnection,
  stream: string,
): Promise<{ seq: number; subject: string; msgId: string; data: unknown }[]> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(stream);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    out.push({
      seq: m.seq,
      subject: m.subject,
      msgId: m.header.get('Nats-Msg-Id'),
      data: m.json(),
    });
  }
  return out;
}

export interface OwnNatsServer {
  /** nats://127.0.0.1:<port>, without credentials. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A nats-server of the test's own (the machine's binary, as for NATS_URL's), with JetStream and
 * the given configuration (authorization, ...): for what the shared server is not set up to do.
 */
export async function startNatsServer(config: string): Promise<OwnNatsServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-nats-'));
  const port = await freePort();
  const file = path.join(dir, 'nats.conf');
  await writeFile(
    file,
    `listen: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(dir)} }\n${config}\n`,
  );
  const child = spawn('nats-server', ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`nats-server did not start:\n${output}`)),
      10_000,
    );
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`nats-server exited ${code}:\n${output}`)));
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
