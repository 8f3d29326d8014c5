import type { Config } from '../config/env';
import type { StreamLimits } from './routes/live';

/** What the HTTP layer takes from the configuration (README, "Security" and "Limits"). */
export interface HttpOptions {
  /** PATCH /orders/update requires `Authorization: Bearer <apiToken>`; unset: open. */
  apiToken?: string;
  /** Requests per minute per client to /orders/* and /admin/*; unset: no limit. */
  rateLimitPerMinute?: number;
  /** Clients reach the service over HTTPS (a TLS proxy in front): HSTS, upgrade-insecure-requests. */
  behindHttps?: boolean;
  /** Express's "trust proxy" hop count: how many proxies' X-Forwarded-For entries to believe. */
  trustProxy?: number;
  /** Caps of the live streams (GET /events/stream). */
  streams?: Partial<StreamLimits>;
}

export function httpOptions(config: Config): HttpOptions {
  return {
    apiToken: config.API_TOKEN,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
    behindHttps: config.BEHIND_HTTPS,
    trustProxy: config.TRUST_PROXY,
    streams: {
      maxStreams: config.LIVE_STREAMS_MAX,
      maxPerClient: config.LIVE_STREAMS_PER_CLIENT,
    },
  };
}
