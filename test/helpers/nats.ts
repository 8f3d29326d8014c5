import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';

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
