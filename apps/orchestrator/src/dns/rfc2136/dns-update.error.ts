import { DomainError } from '../../common/errors';

/**
 * A dynamic update failed. `reason` is the most specific cause: the TSIG error (BADSIG, BADKEY,
 * BADTIME), else the response rcode (REFUSED, NOTAUTH, NOTZONE, YXRRSET, ...), else a transport
 * or verification problem (TIMEOUT, NETWORK, BAD_RESPONSE, UNSIGNED_RESPONSE, BAD_RESPONSE_SIGNATURE).
 * `retryable` tells a workflow step whether trying again can help.
 */
export class DnsUpdateError extends DomainError {
  readonly status = 502;
  readonly code = 'dns_update_failed';
  override readonly retryable: boolean;
  readonly reason: string;
  readonly rcode?: string;
  readonly tsigError?: string;

  constructor(
    message: string,
    options: {
      /** The header rcode of the response, when one was received. */
      rcode?: string;
      tsigError?: string;
      reason?: string;
      retryable?: boolean;
      cause?: unknown;
    } = {},
  ) {
    const reason = options.reason ?? options.tsigError ?? options.rcode ?? 'UNKNOWN';
    super(message, { rcode: options.rcode, tsigError: options.tsigError, reason });
    this.reason = reason;
    this.rcode = options.rcode;
    this.tsigError = options.tsigError;
    this.retryable = options.retryable ?? false;
    if (options.cause !== undefined) Object.defineProperty(this, 'cause', { value: options.cause });
  }
}

/** A prerequisite did not hold (YXDOMAIN, YXRRSET, NXDOMAIN, NXRRSET): the zone changed under us. */
export class DnsUpdatePrerequisiteError extends DnsUpdateError {}
