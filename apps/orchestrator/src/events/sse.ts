/**
 * A server-sent events response over Fastify's raw reply: headers, `retry`, a comment every 15 s so
 * proxies keep the connection open, and writes that wait for the socket to drain (a slow reader
 * slows only its own stream). `closed` resolves when the client goes away.
 */
import { FastifyReply } from 'fastify';

const KEEPALIVE_MS = 15_000;

export class SseStream {
  readonly closed: Promise<void>;
  private ended = false;
  private readonly keepalive: NodeJS.Timeout;

  constructor(private readonly reply: FastifyReply) {
    const raw = reply.raw;
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx and similar proxies buffer responses unless told not to
      'x-accel-buffering': 'no',
    });
    raw.write('retry: 2000\n\n');
    this.closed = new Promise((resolve) => {
      const done = (): void => {
        this.ended = true;
        clearInterval(this.keepalive);
        resolve();
      };
      raw.once('close', done);
      raw.once('error', done);
    });
    this.keepalive = setInterval(() => void this.comment('keep-alive'), KEEPALIVE_MS);
    this.keepalive.unref();
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** One event; resolves once the socket has taken it (false: the client is gone). */
  send(event: string, data: unknown, id?: string): Promise<boolean> {
    // JSON never holds a raw newline, so `data` is one line.
    const text = `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    return this.write(text);
  }

  comment(text: string): Promise<boolean> {
    return this.write(`: ${text}\n\n`);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.keepalive);
    this.reply.raw.end();
  }

  private write(text: string): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    const raw = this.reply.raw;
    if (raw.write(text)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onDrain = (): void => resolve(!this.ended);
      raw.once('drain', onDrain);
      void this.closed.then(() => {
        raw.off('drain', onDrain);
        resolve(false);
      });
    });
  }
}
