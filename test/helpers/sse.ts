import net from 'node:net';

export interface OpenedStream {
  status: number;
  /** The status line and headers, lower-cased. */
  head: string;
  socket: net.Socket;
  /** Everything after the head, as it arrives (a refusal's JSON, the stream's messages). */
  readonly body: string;
  /** Resolves when the connection is closed (either side). */
  closed: Promise<void>;
}

/**
 * GET /events/stream on a raw socket from `localAddress`: on Linux any 127.x.y.z is this machine,
 * so a test can be many clients. Resolves once the head has arrived.
 */
export function openStream(port: number, localAddress = '127.0.0.1'): Promise<OpenedStream> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let text = '';
    let headEnd = -1;
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (headEnd >= 0) return;
      headEnd = text.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = text.slice(0, headEnd).toLowerCase();
      resolve({
        status: Number(head.split(' ')[1]),
        head,
        socket,
        get body() {
          return text.slice(headEnd + 4);
        },
        closed,
      });
    });
    socket.on('error', reject);
    socket.write('GET /events/stream HTTP/1.1\r\nhost: x\r\n\r\n');
  });
}
