// npm run webhook:receive -> an example webhook receiver on http://localhost:4000/hooks that
// verifies every call's Standard Webhooks signature with WEBHOOK_SECRET and prints the event.
// Point the service at it: WEBHOOK_URLS=http://localhost:4000/hooks (same WEBHOOK_SECRET).
// Options: --port N, --fail-every N (answer 503 to every Nth call, to watch the retries).
import http from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { loadConfig } from '../src/config/env';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const config = loadConfig();
if (!config.WEBHOOK_SECRET) {
  console.error('set WEBHOOK_SECRET (whsec_...), the same as the service uses');
  process.exit(2);
}
const port = option('port', 4000);
const failEvery = option('fail-every', 0);
const verifier = new Webhook(config.WEBHOOK_SECRET);
let calls = 0;

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls++;
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        // Throws unless the signature matches and webhook-timestamp is within 5 minutes.
        verifier.verify(body, req.headers as Record<string, string>);
      } catch (err) {
        const reason = err instanceof WebhookVerificationError ? err.message : String(err);
        console.log(`✗ ${req.headers['webhook-id']}: rejected (${reason})`);
        res.writeHead(401).end(reason);
        return;
      }
      if (failEvery > 0 && calls % failEvery === 0) {
        console.log(`… ${req.headers['webhook-id']}: answering 503 on purpose`);
        res.writeHead(503, { 'retry-after': '2' }).end('busy');
        return;
      }
      const event = JSON.parse(body) as { id: string; type: string; aggregate: { id: string } };
      console.log(`✓ ${event.id} ${event.type} ${event.aggregate.id}`);
      res.writeHead(204).end();
    });
  })
  .listen(port, () => console.log(`webhook receiver on http://localhost:${port}/hooks`));
