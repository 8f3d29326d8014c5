import dotenv from 'dotenv';
import { z } from 'zod';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const port = z.coerce.number().int().min(1).max(65535);
const positiveInt = z.coerce.number().int().positive();
/** An empty variable counts as unset, as it does for most tools reading a .env file. */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const postgresUrl = optionalString.pipe(
  z
    .string()
    .refine((v) => {
      try {
        return ['postgres:', 'postgresql:'].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, 'must be a postgres://user:password@host:port/database URL')
    .optional(),
);

/** A URL whose scheme is one of `protocols`; the message never echoes the value (it may hold a secret). */
function urlWith(protocols: string[], example: string) {
  return z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL like ${example}`);
}

/** A duration: a number with a unit (ms, s, m, h, d), e.g. 7d; parsed to milliseconds. */
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'must be a duration such as 500ms, 30s, 15m, 12h or 7d')
  .transform((v) => {
    const [, n, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(v)!;
    const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 'ms'];
    return Number(n) * factor;
  });

/** One webhook endpoint: its subscription is `webhook:<name>`. */
export interface WebhookEndpoint {
  /** Given as `name=url`, else the URL's host (with its port): never its path or query. */
  name: string;
  url: string;
}

const WEBHOOK_NAME = /^([A-Za-z0-9_.-]{1,64})=(.+)$/;

const webhookUrls = optionalString.transform((v, ctx): WebhookEndpoint[] => {
  const entries = (v ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  const endpoints: WebhookEndpoint[] = [];
  entries.forEach((entry, i) => {
    const named = WEBHOOK_NAME.exec(entry);
    const url = named ? named[2]! : entry;
    if (!urlWith(['http:', 'https:'], 'https://example.com/hook').safeParse(url).success) {
      // The URL itself is not echoed: webhook URLs often carry a token.
      ctx.addIssue({ code: 'custom', message: `URL #${i + 1} must be an http(s) URL` });
      return;
    }
    endpoints.push({ name: named ? named[1]! : new URL(url).host, url });
  });
  endpoints.forEach((e, i) => {
    const first = endpoints.findIndex((other) => other.name === e.name);
    if (first !== i) {
      ctx.addIssue({
        code: 'custom',
        message: `URLs #${first + 1} and #${i + 1} would both be named ${e.name}: name them, as in orders=https://${e.name}/...`,
      });
    }
  });
  return endpoints;
});

export const envSchema = z
  .object({
    DATABASE_URL: postgresUrl.describe('PostgreSQL to use; unset: an embedded PostgreSQL'),
    EMBEDDED_PG_PORT: port.default(54329).describe('port of the embedded PostgreSQL'),
    EMBEDDED_PG_DIR: z
      .string()
      .default('.data/postgres')
      .describe('data directory of the embedded PostgreSQL'),
    PORT: port.default(3000).describe('HTTP port'),
    HOST: z.string().default('0.0.0.0').describe('HTTP bind address'),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info').describe('pino log level'),
    LOG_PRETTY: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true')
      .describe('human-readable logs (npm run dev sets it)'),
    PG_POOL_MAX: positiveInt
      .default(10)
      .describe("connections of the API's pool (the dispatcher has OUTBOX_CONCURRENCY + 1 more)"),
    PG_CONNECT_TIMEOUT_MS: positiveInt
      .default(5_000)
      .describe('longest wait for a pooled connection; then 503 (pool exhausted, database down)'),
    PG_STATEMENT_TIMEOUT_MS: positiveInt
      .default(10_000)
      .describe('longest a statement may run, lock waits included; then 503'),
    OUTBOX_BATCH_SIZE: positiveInt
      .max(10_000)
      // 500: 20,900 events/s drained vs 14,100 at 100 (30,000 events, local PostgreSQL 15).
      .default(500)
      .describe('events a subscription reads per round'),
    OUTBOX_CONCURRENCY: positiveInt
      .max(64)
      .default(2)
      .describe("connections of the dispatcher's own pool (shared by the subscriptions' lanes)"),
    OUTBOX_MAX_ATTEMPTS: positiveInt.default(10).describe('attempts before an event is dead'),
    OUTBOX_LEASE_MS: positiveInt
      .min(1000)
      .default(30_000)
      .describe("a subscription's lease; renewed while its instance lives, taken over after"),
    OUTBOX_SUBSCRIPTION_START: z
      .enum(['now', 'beginning'])
      .default('now')
      .describe(
        'where a subscription that does not exist yet starts: now (new events) or beginning (every event retained)',
      ),
    OUTBOX_POLL_INTERVAL_MS: positiveInt
      .min(10)
      .default(1000)
      .describe('fallback poll: the most a lost wake-up can delay an event'),
    OUTBOX_WAKEUP: z
      .enum(['gated', 'notify'])
      .default('gated')
      .describe('gated: writers NOTIFY only while no dispatcher is awake; notify: on every commit'),
    OUTBOX_SYNCHRONOUS_COMMIT: z
      .enum(['off', 'local', 'remote_write', 'on', 'remote_apply'])
      .default('off')
      .describe(
        "synchronous_commit of the dispatcher's transactions (effects and positions commit together)",
      ),
    OUTBOX_RETRY_BASE_MS: positiveInt
      .default(1000)
      .describe('first retry delay; doubles per attempt'),
    OUTBOX_RETRY_MAX_MS: positiveInt.default(3_600_000).describe('cap on the retry delay'),
    OUTBOX_SHUTDOWN_MS: positiveInt
      .default(10_000)
      .describe('how long shutdown waits for in-flight work'),
    OUTBOX_RETENTION: duration
      .default(7 * 86_400_000)
      .describe(
        'events older than this are deleted once every subscription has passed them (e.g. 7d)',
      ),
    OUTBOX_LAG_SLO_MS: optionalString
      .pipe(z.coerce.number<string | undefined>().int().positive().optional())
      .describe("readiness reports degraded when a subscription's oldest owed event is older"),
    ADMIN_TOKEN: optionalString
      .pipe(z.string().min(16, 'must be at least 16 characters').optional())
      .describe('bearer token for /admin/*; unset: the admin API is off (404)'),
    API_TOKEN: optionalString
      .pipe(z.string().min(16, 'must be at least 16 characters').optional())
      .describe('bearer token PATCH /orders/update requires; unset: the write API is open'),
    RATE_LIMIT_PER_MINUTE: optionalString
      .pipe(z.coerce.number<string | undefined>().int().min(0).optional())
      .transform((v) => (v ? v : undefined))
      .describe(
        'requests per minute per client to /orders/* and /admin/* (429 past it); unset or 0: no limit',
      ),
    LIVE_STREAMS_MAX: positiveInt
      // The server takes 1,000 connections (src/http/http-server.ts): streams may hold half.
      .max(500, 'must leave the other half of the server’s 1,000 connections to other requests')
      .default(100)
      .describe('live streams (GET /events/stream) open at once, all clients together; then 503'),
    LIVE_STREAMS_PER_CLIENT: positiveInt
      .default(5)
      .describe('live streams open at once from one client address; then 429'),
    TRUST_PROXY: z.coerce
      .number()
      .int()
      .min(0)
      .max(10)
      .default(0)
      .describe(
        'proxies in front whose X-Forwarded-For names the client (per-client limits); 0: none',
      ),
    BEHIND_HTTPS: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true')
      .describe(
        'clients reach the service over HTTPS: send HSTS, COOP and upgrade-insecure-requests',
      ),
    WEBHOOK_URLS: webhookUrls.describe(
      'comma-separated webhook endpoints, each `url` or `name=url` (its subscription is webhook:<name>, by default the host); unset: webhooks off',
    ),
    WEBHOOK_SECRET: optionalString
      .pipe(
        z
          .string()
          .regex(/^whsec_[A-Za-z0-9+/]{16,}={0,2}$/, 'must be whsec_ followed by a base64 key')
          .optional(),
      )
      .describe('Standard Webhooks signing secret (whsec_...)'),
    WEBHOOK_TIMEOUT_MS: positiveInt
      .default(10_000)
      .describe('a webhook call that takes longer is a failure (retried)'),
    NATS_URL: optionalString
      .pipe(urlWith(['nats:', 'tls:'], 'nats://127.0.0.1:4222').optional())
      .describe('NATS server for the JetStream relay; unset: relay off'),
    NATS_CREDS_FILE: optionalString.describe(
      'NATS credentials file (user JWT and seed, from nsc); user:password@ or token@ may go in NATS_URL instead',
    ),
    NATS_STREAM: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, - or _')
      .default('OUTBOX')
      .describe('JetStream stream (created if missing)'),
    NATS_SUBJECT_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be NATS subject tokens such as outbox')
      .default('outbox')
      .describe('subjects are <prefix>.<aggregate_type>.<event_type>; the stream takes <prefix>.>'),
    SMTP_URL: optionalString
      .pipe(urlWith(['smtp:', 'smtps:'], 'smtp://user:pass@localhost:1025').optional())
      .describe('SMTP server for client e-mails; unset: notifications are only recorded'),
    MAIL_FROM: z
      .string()
      .default('Outbox Shop <shop@example.com>')
      .describe('sender of client e-mails'),
  })
  .superRefine((env, ctx) => {
    if (env.WEBHOOK_URLS.length > 0 && !env.WEBHOOK_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['WEBHOOK_SECRET'],
        message: 'is required when WEBHOOK_URLS is set',
      });
    }
  });

export type Config = Readonly<z.infer<typeof envSchema>>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses an environment once; every bad variable is named in the error. Values are never echoed. */
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
    );
  }
  return Object.freeze(result.data);
}

/** Reads `.env` (if any; real environment variables win) and parses process.env. */
export function loadConfig(): Config {
  dotenv.config({ quiet: true });
  return parseConfig(process.env);
}
