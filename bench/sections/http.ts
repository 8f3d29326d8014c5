// (d) HTTP: PATCH /orders/update with autocannon.
import autocannon from 'autocannon';

const STATUSES = ['pending', 'paid', 'packed', 'shipped', 'delivered', 'cancelled'];

export interface HttpResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Random order and status per request; a same-status pick is a valid no-event update. */
export async function patchLoad(
  baseUrl: string,
  connections: number,
  seconds: number,
  orders: number,
): Promise<HttpResult> {
  const result = await autocannon({
    url: `${baseUrl}/orders/update`,
    method: 'PATCH',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({
            id: 1 + Math.floor(Math.random() * orders),
            status: STATUSES[Math.floor(Math.random() * STATUSES.length)],
          }),
        }),
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}
