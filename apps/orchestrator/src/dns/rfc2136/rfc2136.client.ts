/**
 * Sends TSIG-signed RFC 2136 UPDATE messages over TCP and turns every answer that is not a
 * verified NOERROR into a typed DnsUpdateError.
 */
import { randomInt } from 'node:crypto';
import { decodeHeader, decodeMessage, DnsHeader, OPCODE, RCODE, rcodeName, tsigErrorName } from './dns-wire';
import { DnsUpdateError, DnsUpdatePrerequisiteError } from './dns-update.error';
import { DnsTransportError, exchangeTcp } from './tcp-exchange';
import { DEFAULT_FUDGE, signMessage, TSIG_ALGORITHMS, TsigAlgorithm, TsigKey, verifyResponse } from './tsig';
import { encodeUpdate, UpdateRequest } from './update-message';

export interface Rfc2136ClientOptions {
  server: string;
  port: number;
  keyName: string;
  keySecretBase64: string;
  algorithm: TsigAlgorithm;
  timeoutMs: number;
  fudge?: number;
  /** Milliseconds clock (time signed). */
  now?: () => number;
}

const PREREQUISITE_RCODES: number[] = [RCODE.YXDOMAIN, RCODE.YXRRSET, RCODE.NXDOMAIN, RCODE.NXRRSET];
const RETRYABLE_RCODES: number[] = [RCODE.SERVFAIL];

export class Rfc2136Client {
  private readonly key: TsigKey;
  private readonly now: () => number;

  constructor(private readonly options: Rfc2136ClientOptions) {
    if (!(options.algorithm in TSIG_ALGORITHMS)) {
      throw new Error(`unsupported TSIG algorithm "${options.algorithm}" (supported: hmac-sha256)`);
    }
    const secret = Buffer.from(options.keySecretBase64, 'base64');
    if (secret.length === 0) throw new Error('TSIG secret is empty or not base64');
    this.key = { name: options.keyName, algorithm: options.algorithm, secret };
    this.now = options.now ?? Date.now;
  }

  /** Send one update; resolves only on a NOERROR response whose TSIG verifies. */
  async update(request: UpdateRequest): Promise<void> {
    const where = `update of zone ${request.zone} at ${this.options.server}:${this.options.port}`;
    const id = randomInt(0x10000);
    const { signed, mac } = signMessage(encodeUpdate(id, request), this.key, {
      timeSigned: Math.floor(this.now() / 1000),
      fudge: this.options.fudge ?? DEFAULT_FUDGE,
    });

    let raw: Buffer;
    try {
      raw = await exchangeTcp(this.options.server, this.options.port, signed, this.options.timeoutMs);
    } catch (error) {
      const kind = error instanceof DnsTransportError ? error.kind : 'NETWORK';
      throw new DnsUpdateError(`${where} failed: ${(error as Error).message}`, {
        reason: kind,
        retryable: true,
        cause: error,
      });
    }

    let header: DnsHeader;
    try {
      header = decodeHeader(raw);
      decodeMessage(raw);
    } catch (error) {
      throw new DnsUpdateError(`${where}: malformed response (${(error as Error).message})`, {
        reason: 'BAD_RESPONSE',
        retryable: true,
      });
    }
    if (header.id !== id || !header.qr || header.opcode !== OPCODE.UPDATE) {
      throw new DnsUpdateError(`${where}: response does not match the request`, { reason: 'BAD_RESPONSE' });
    }

    const rcode = rcodeName(header.rcode);
    const check = verifyResponse(raw, this.key, mac, Math.floor(this.now() / 1000));
    if (check.status === 'unsigned-error' || (check.status === 'verified' && check.tsig.error !== 0)) {
      const tsigError = tsigErrorName(check.tsig.error);
      throw new DnsUpdateError(`${where} rejected: ${rcode}/${tsigError} (key "${this.key.name}")`, {
        rcode,
        tsigError,
      });
    }
    if (check.status === 'invalid') {
      // The server may have applied the update; only a fresh query can tell.
      throw new DnsUpdateError(`${where}: response TSIG invalid (${check.reason}), rcode ${rcode}`, {
        rcode,
        reason: 'BAD_RESPONSE_SIGNATURE',
      });
    }
    if (check.status === 'unsigned') {
      if (header.rcode === RCODE.NOERROR) {
        throw new DnsUpdateError(`${where}: NOERROR response without TSIG cannot be trusted`, {
          rcode,
          reason: 'UNSIGNED_RESPONSE',
        });
      }
      // An unsigned refusal (e.g. REFUSED from a server that ignores TSIG) still fails the update.
    }
    if (header.rcode === RCODE.NOERROR) return;
    const message = `${where} failed: ${rcode}`;
    if (PREREQUISITE_RCODES.includes(header.rcode)) {
      throw new DnsUpdatePrerequisiteError(`${message} (a prerequisite did not hold)`, {
        rcode,
        retryable: true,
      });
    }
    throw new DnsUpdateError(message, { rcode, retryable: RETRYABLE_RCODES.includes(header.rcode) });
  }
}
