// npm run watch:nats -> prints every event the service publishes to NATS (subject, Nats-Msg-Id,
// body), as a consumer on another machine would see them. Uses NATS_URL (default
// nats://localhost:4222) and NATS_SUBJECT_PREFIX. A plain subscription: it sees what is published
// while it runs; the stream (NATS_STREAM) keeps everything for durable consumers.
import { connect } from 'nats';
import { loadConfig } from '../src/config/env';

async function main(): Promise<void> {
  const config = loadConfig();
  const servers = config.NATS_URL ?? 'nats://localhost:4222';
  const nc = await connect({ servers });
  const subject = `${config.NATS_SUBJECT_PREFIX}.>`;
  console.log(`watching ${subject} on ${servers} (Ctrl-C to stop)`);
  process.on('SIGINT', () => void nc.drain().then(() => process.exit(0)));
  for await (const msg of nc.subscribe(subject)) {
    console.log(`${msg.subject} [${msg.headers?.get('Nats-Msg-Id') ?? '-'}] ${msg.string()}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
