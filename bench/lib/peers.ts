// Local peers for the e-mail section: an SMTP server that accepts every message (the approach of
// test/helpers/smtp-catcher.ts, with arrival times and nothing kept), and an HTTP endpoint that
// accepts connections and never answers.
import net from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface SmtpCatcher {
  /** smtp://127.0.0.1:<port> */
  url: string;
  /** performance.now() of each message accepted (250 to DATA), in arrival order. */
  arrivals: number[];
  close(): Promise<void>;
}

export async function startSmtpCatcher(): Promise<SmtpCatcher> {
  const arrivals: number[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 1_000,
    onData(stream, _session, callback) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        arrivals.push(performance.now());
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as net.AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    arrivals,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface HungEndpoint {
  /** http://127.0.0.1:<port>/hooks */
  url: string;
  /** Connections open now. */
  readonly connections: number;
  /** Cuts every connection open now (between runs). */
  reset(): void;
  close(): Promise<void>;
}

/** An HTTP endpoint that accepts every connection, reads what comes, and never answers. */
export async function startHungEndpoint(): Promise<HungEndpoint> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const reset = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hooks`,
    get connections() {
      return sockets.size;
    },
    reset,
    close: () => {
      reset();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
