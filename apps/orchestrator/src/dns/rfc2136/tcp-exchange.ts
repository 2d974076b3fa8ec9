import { connect } from 'node:net';

export class DnsTransportError extends Error {
  constructor(
    message: string,
    readonly kind: 'TIMEOUT' | 'NETWORK' | 'BAD_RESPONSE',
  ) {
    super(message);
    this.name = 'DnsTransportError';
  }
}

/**
 * Send one DNS message over TCP (RFC 1035 §4.2.2: two-octet length prefix) and read one reply.
 * The whole exchange, connect included, must finish within `timeoutMs`.
 */
export function exchangeTcp(host: string, port: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | undefined, reply?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply as Buffer);
    };
    const timer = setTimeout(
      () => finish(new DnsTransportError(`no answer from ${host}:${port} within ${timeoutMs} ms`, 'TIMEOUT')),
      timeoutMs,
    );
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length, 0);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const expected = received.readUInt16BE(0);
      if (received.length >= 2 + expected) finish(undefined, received.subarray(2, 2 + expected));
    });
    socket.on('error', (error) =>
      finish(new DnsTransportError(`${host}:${port}: ${error.message}`, 'NETWORK')),
    );
    socket.on('close', () =>
      finish(new DnsTransportError(`${host}:${port} closed the connection before answering`, 'BAD_RESPONSE')),
    );
  });
}
