import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One message the sink accepted. */
export interface ReceivedMail {
  /** Envelope sender (MAIL FROM). */
  from: string | null;
  /** Envelope recipients (RCPT TO), including cc and bcc. */
  to: string[];
  /** The whole message as sent. */
  raw: string;
  /** Headers by lower-case name, unfolded; a repeated header keeps its last value. */
  headers: Record<string, string>;
  subject: string | undefined;
  /** Everything after the header block, still transfer-encoded. */
  body: string;
}

function parseMessage(raw: string): Pick<ReceivedMail, 'headers' | 'subject' | 'body'> {
  const split = raw.indexOf('\r\n\r\n');
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split + 4);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, subject: headers.subject, body };
}

/** Builds an SMTP error the client sees with `code`. */
function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/**
 * An SMTP server on 127.0.0.1 (random port), no TLS, no auth, that keeps every message it
 * accepts. Recipients can be refused and the DATA answer delayed or failed, to drive the
 * error paths of a client.
 *
 * @example
 * const sink = await startSmtpSink();
 * // settings.smtpUrl = sink.url
 * sink.messages[0]?.subject;
 * await sink.close();
 */
export class SmtpSink {
  readonly messages: ReceivedMail[] = [];
  /** RCPT TO for these addresses is answered 550. */
  readonly rejectRecipients = new Set<string>();
  /** Hold the answer to DATA this long. */
  dataDelayMs = 0;
  /** When set, DATA is answered with this error instead of being accepted. */
  dataFailure: { code: number; message: string } | null = null;
  private readonly pending = new Set<NodeJS.Timeout>();

  private readonly server = new SMTPServer({
    authOptional: true,
    // Advertising STARTTLS would make clients upgrade to the server's self-signed certificate.
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 100,
    onRcptTo: (address, _session, callback) => {
      if (this.rejectRecipients.has(address.address))
        return callback(smtpError(550, `mailbox ${address.address} unavailable`));
      callback();
    },
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const { dataFailure, dataDelayMs } = this;
        const finish = () => {
          if (dataFailure) return callback(smtpError(dataFailure.code, dataFailure.message));
          const raw = Buffer.concat(chunks).toString('utf8');
          const from = session.envelope.mailFrom;
          this.messages.push({
            from: from ? from.address : null,
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            ...parseMessage(raw),
          });
          callback();
        };
        if (dataDelayMs === 0) return finish();
        const timer = setTimeout(() => {
          this.pending.delete(timer);
          finish();
        }, dataDelayMs);
        this.pending.add(timer);
      });
    },
  });

  /** Kept from listen() so the URL stays readable after close(). */
  private port = 0;

  private constructor() {}

  /** Starts a sink on a random loopback port. */
  static async start(): Promise<SmtpSink> {
    const sink = new SmtpSink();
    await new Promise<void>((resolve) => sink.server.listen(0, '127.0.0.1', resolve));
    sink.port = (sink.server.server.address() as AddressInfo).port;
    return sink;
  }

  /** `smtp://127.0.0.1:<port>`, the value for SMTP_URL. */
  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Stops listening; connections still open are cut after 100 ms. */
  async close(): Promise<void> {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Starts an {@link SmtpSink} on a random loopback port. */
export const startSmtpSink = (): Promise<SmtpSink> => SmtpSink.start();
