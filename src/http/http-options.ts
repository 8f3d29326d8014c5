import type { Config } from '../config/env';
import type { StreamLimits } from './routes/live';

/** What the HTTP layer takes from the configuration (README, "Security" and "Limits"). */
export interface HttpOptions {
  /** Express's "trust proxy" hop count: how many proxies' X-Forwarded-For entries to believe. */
  trustProxy?: number;
  /** Caps of the live streams (GET /events/stream). */
  streams?: Partial<StreamLimits>;
}

export function httpOptions(config: Config): HttpOptions {
  return {
    trustProxy: config.TRUST_PROXY,
    streams: {
      maxStreams: config.LIVE_STREAMS_MAX,
      maxPerClient: config.LIVE_STREAMS_PER_CLIENT,
    },
  };
}
