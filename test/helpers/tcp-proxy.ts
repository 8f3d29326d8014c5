import net from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that can make its connections silently dead: `freeze()` stops
 * forwarding on every connection open at that moment without closing anything (no FIN, no RST),
 * which is what a NAT or firewall dropping a flow looks like to both ends. New connections pass.
 */
export interface TcpProxy {
  /** The PostgreSQL URL `url` rewritten to go through the proxy. */
  url: string;
  /** Connections currently open through the proxy. */
  readonly open: number;
  freeze(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  const frozen = new WeakSet<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();

  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    for (const [from, to] of [pair, [upstream, client] as const]) {
      sockets.add(from);
      from.on('data', (chunk) => {
        if (!frozen.has(from)) to.write(chunk);
      });
      from.on('error', () => undefined);
      from.on('close', () => {
        sockets.delete(from);
        pairs.delete(pair);
        if (!frozen.has(from)) to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  return {
    url: url.toString(),
    get open() {
      return pairs.size;
    },
    freeze() {
      for (const socket of sockets) frozen.add(socket);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
