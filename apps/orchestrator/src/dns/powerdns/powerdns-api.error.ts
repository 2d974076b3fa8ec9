import { DomainError } from '../../common/errors';

/**
 * A PowerDNS HTTP API request failed. `httpStatus` is the response status (absent when none came
 * back), `pdnsError` the `error` field of PowerDNS's JSON body (or its plain-text body), `reason`
 * the HTTP status as text, or TIMEOUT / NETWORK. Messages never contain the API key.
 */
export class PowerDnsApiError extends DomainError {
  readonly status = 502;
  readonly code = 'dns_update_failed';
  override readonly retryable: boolean;
  readonly reason: string;
  readonly httpStatus?: number;
  readonly pdnsError?: string;

  constructor(
    message: string,
    options: { httpStatus?: number; pdnsError?: string; reason: string; retryable: boolean },
  ) {
    super(message, { httpStatus: options.httpStatus, pdnsError: options.pdnsError, reason: options.reason });
    this.reason = options.reason;
    this.httpStatus = options.httpStatus;
    this.pdnsError = options.pdnsError;
    this.retryable = options.retryable;
  }
}
