import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerError } from 'smtp-server';

export interface CaughtMail {
  messageId: string;
  /** Envelope recipients. */
  to: string[];
  from: string;
  raw: string;
}

export interface SmtpCatcher {
  /** smtp://127.0.0.1:<port> */
  url: string;
  /** Messages accepted (250 to DATA), in arrival order. */
  messages: CaughtMail[];
  /** Messages refused on purpose. */
  refused: number;
  close(): Promise<void>;
}

function smtpError(message: string, responseCode: number): SMTPServerError {
  return Object.assign(new Error(message), { responseCode });
}

/**
 * A real SMTP server (smtp-server package) that accepts every message, unless `refuseData(n)`
 * (n counts messages from 1) or `refuseRecipient(address)` says to answer with an error code.
 */
export async function startSmtpCatcher(
  opts: {
    refuseData?: (n: number) => number | undefined;
    refuseRecipient?: (address: string) => number | undefined;
  } = {},
): Promise<SmtpCatcher> {
  const state = { messages: [] as CaughtMail[], refused: 0, n: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 1_000,
    onRcptTo(address, _session, callback) {
      const code = opts.refuseRecipient?.(address.address);
      if (code) callback(smtpError(`mailbox ${address.address} unavailable`, code));
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const n = ++state.n;
        const code = opts.refuseData?.(n);
        if (code) {
          state.refused++;
          callback(smtpError(`try again later (message ${n})`, code));
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const headers = raw.slice(0, raw.indexOf('\r\n\r\n'));
        state.messages.push({
          messageId: /^Message-ID:\s*(.+)$/im.exec(headers)?.[1]?.trim() ?? '',
          to: session.envelope.rcptTo.map((r) => r.address),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    get messages() {
      return state.messages;
    },
    get refused() {
      return state.refused;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
