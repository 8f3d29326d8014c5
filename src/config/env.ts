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

export const envSchema = z.object({
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
    .describe('connections in the pool shared by API and dispatcher'),
  OUTBOX_BATCH_SIZE: positiveInt.max(10_000).default(100).describe('rows claimed per batch'),
  OUTBOX_CONCURRENCY: positiveInt.max(64).default(2).describe('batches in flight per process'),
  OUTBOX_MAX_ATTEMPTS: positiveInt.default(10).describe('attempts before an event is dead'),
  OUTBOX_LEASE_MS: positiveInt
    .min(1000)
    .default(30_000)
    .describe('claim lease; extended while work runs'),
  OUTBOX_POLL_INTERVAL_MS: positiveInt
    .min(10)
    .default(1000)
    .describe('fallback poll: the most a lost wake-up can delay an event'),
  OUTBOX_RETRY_BASE_MS: positiveInt
    .default(1000)
    .describe('first retry delay; doubles per attempt'),
  OUTBOX_RETRY_MAX_MS: positiveInt.default(3_600_000).describe('cap on the retry delay'),
  OUTBOX_SHUTDOWN_MS: positiveInt
    .default(10_000)
    .describe('how long shutdown waits for in-flight work'),
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
