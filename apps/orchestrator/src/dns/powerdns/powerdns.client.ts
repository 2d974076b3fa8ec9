/**
 * The few PowerDNS Authoritative HTTP API calls the provider needs (read one RRset, PATCH RRsets
 * of a zone), over Node's fetch with a timeout per request. The API key goes in the X-API-Key
 * header only; it is never logged and never part of an error.
 */
import { PowerDnsApiError } from './powerdns-api.error';
import { absoluteName, PdnsRecord, PdnsRecordType, PdnsRRset, zoneId } from './powerdns-rrsets';

export interface PowerDnsClientConfig {
  /** Base URL before /api/v1, e.g. http://127.0.0.1:8081 */
  apiUrl: string;
  apiKey: string;
  serverId: string;
  timeoutMs: number;
}

interface PdnsZoneBody {
  rrsets?: { name: string; type: string; ttl: number; records: PdnsRecord[] }[];
}

export class PowerDnsClient {
  private readonly base: string;

  constructor(private readonly config: PowerDnsClientConfig) {
    this.base = `${config.apiUrl.replace(/\/+$/, '')}/api/v1/servers/${encodeURIComponent(config.serverId)}`;
  }

  /**
   * The records of one RRset (empty when it does not exist). The rrset_name/rrset_type filter
   * (PowerDNS 4.7 and later) keeps the answer small; the RRset is still picked out here.
   */
  async getRRset(zone: string, name: string, type: PdnsRecordType): Promise<PdnsRecord[]> {
    const query = new URLSearchParams({ rrset_name: absoluteName(name), rrset_type: type });
    const body = (await this.request('GET', `/zones/${zoneId(zone)}?${query}`, zone)) as PdnsZoneBody;
    const wanted = absoluteName(name).toLowerCase();
    return (body.rrsets ?? [])
      .filter((r) => r.type === type && r.name.toLowerCase() === wanted)
      .flatMap((r) => r.records);
  }

  /** One PATCH: PowerDNS applies all RRsets of it in one backend transaction, or none. */
  async patchRRsets(zone: string, rrsets: PdnsRRset[]): Promise<void> {
    await this.request('PATCH', `/zones/${zoneId(zone)}`, zone, { rrsets });
  }

  private async request(method: string, path: string, zone: string, body?: unknown): Promise<unknown> {
    const what = `PowerDNS API ${method} ${this.base}${path.replace(/\?.*$/, '')}`;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          'X-API-Key': this.config.apiKey,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const detail = timedOut
        ? `no answer within ${this.config.timeoutMs} ms`
        : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new PowerDnsApiError(this.redact(`${what} failed: ${detail}`), {
        reason: timedOut ? 'TIMEOUT' : 'NETWORK',
        retryable: true,
      });
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) {
      const pdnsError = this.redact(errorField(text));
      // The orchestrator writes records into zones; it never creates them.
      const hint =
        res.status === 404
          ? ` (zone ${zone} does not exist on PowerDNS server ${this.config.serverId}: create it first)`
          : res.status === 401
            ? ' (check PDNS_API_KEY)'
            : '';
      throw new PowerDnsApiError(
        this.redact(`${what} answered ${res.status}${pdnsError ? `: ${pdnsError}` : ''}${hint}`),
        {
          httpStatus: res.status,
          pdnsError: pdnsError || undefined,
          reason: `HTTP_${res.status}`,
          // Server trouble or overload may pass; a refused key, a missing zone or bad data will not.
          retryable: res.status >= 500 || res.status === 429,
        },
      );
    }
    if (!text) return {};
    try {
      return JSON.parse(text);
    } catch {
      throw new PowerDnsApiError(`${what} answered ${res.status} with a body that is not JSON`, {
        httpStatus: res.status,
        reason: 'BAD_RESPONSE',
        retryable: true,
      });
    }
  }

  /** Belt and braces: a server or proxy that echoes the request must not put the key in an error. */
  private redact(text: string): string {
    return this.config.apiKey ? text.split(this.config.apiKey).join('[redacted]') : text;
  }
}

/** PowerDNS's `{"error": "..."}` body, else its plain-text body (401 "Unauthorized"), shortened. */
export function errorField(body: string): string {
  let message = body;
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed?.error === 'string') message = parsed.error;
  } catch {
    /* plain text */
  }
  const oneLine = message.replace(/\s+/g, ' ').trim();
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}
