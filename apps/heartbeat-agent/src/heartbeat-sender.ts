/**
 * Pushes a HeartbeatRequest to every orchestrator in parallel each interval. One request at a time
 * per orchestrator: a slow or dead one is skipped until its request ends (timeout < interval), so
 * requests never stack up and the others keep getting heartbeats.
 */
import { HeartbeatRequest, HeartbeatResponse } from '@ha/contracts';
import { Logger } from 'pino';
import { HeartbeatResponseDto } from './assignment.dto';
import { validatePlain } from './validation';

export interface OrchestratorContact {
  url: string;
  /** Monotonic time (send time) of the last 2xx answer. */
  lastContact?: number;
  lastError?: string;
  inFlight: boolean;
}

export interface HeartbeatSenderOptions {
  orchestrators: string[];
  token: string;
  intervalMs: number;
  now: () => number;
  build: () => HeartbeatRequest;
  /** Called with each valid answer; `sentAt` is the monotonic send time. */
  onResponse: (response: HeartbeatResponse, orchestrator: string, sentAt: number) => void;
  logger: Logger;
}

export class HeartbeatSender {
  private readonly contacts: OrchestratorContact[];
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly options: HeartbeatSenderOptions) {
    this.contacts = options.orchestrators.map((url) => ({ url, inFlight: false }));
  }

  start(): void {
    const tick = (): void => {
      this.sendRound();
      this.timer = setTimeout(tick, this.options.intervalMs);
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
  }

  /** Latest contact with any orchestrator (monotonic), or undefined if none yet. */
  lastContact(): number | undefined {
    const times = this.contacts.map((c) => c.lastContact).filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.max(...times) : undefined;
  }

  status(): OrchestratorContact[] {
    return this.contacts.map((c) => ({ ...c }));
  }

  private sendRound(): void {
    const idle = this.contacts.filter((c) => !c.inFlight);
    if (idle.length === 0) return;
    const request = this.options.build();
    for (const contact of idle) void this.sendOne(contact, request);
  }

  private async sendOne(contact: OrchestratorContact, request: HeartbeatRequest): Promise<void> {
    contact.inFlight = true;
    const sentAt = this.options.now();
    const timeoutMs = Math.max(50, Math.floor(this.options.intervalMs * 0.9));
    try {
      const res = await fetch(`${contact.url}/api/v1/heartbeats`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
        body: JSON.stringify(request),
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.abort.signal]),
      });
      const text = await res.text();
      if (!res.ok) {
        this.fail(contact, `HTTP ${res.status}`);
        return;
      }
      // A 2xx is contact, even if the body is unusable: the orchestrator took our heartbeat.
      contact.lastContact = sentAt;
      let response: HeartbeatResponseDto;
      try {
        response = validatePlain(HeartbeatResponseDto, JSON.parse(text), { forbidUnknown: false });
      } catch (err) {
        this.fail(contact, `invalid heartbeat response: ${(err as Error).message}`);
        return;
      }
      if (contact.lastError !== undefined) {
        this.options.logger.info(
          { event: 'orchestrator.reachable', orchestrator: contact.url },
          'orchestrator reachable again',
        );
      }
      contact.lastError = undefined;
      this.options.onResponse(response, contact.url, sentAt);
    } catch (err) {
      if (this.abort.signal.aborted) return;
      const e = err as Error & { cause?: { code?: string } };
      this.fail(
        contact,
        e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (e.cause?.code ?? e.message),
      );
    } finally {
      contact.inFlight = false;
    }
  }

  private fail(contact: OrchestratorContact, reason: string): void {
    if (contact.lastError !== reason) {
      this.options.logger.warn(
        { event: 'orchestrator.heartbeat_failed', orchestrator: contact.url, reason },
        'heartbeat to orchestrator failed',
      );
    }
    contact.lastError = reason;
  }
}
