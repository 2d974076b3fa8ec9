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
  /** Orchestrator wall clock minus ours, from the last answer (midpoint of the exchange). */
  clockOffsetMs?: number;
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

  /** Orchestrator clock minus ours as of the latest answer (0 before any answer). */
  clockOffsetMs(): number {
    let best: OrchestratorContact | undefined;
    for (const c of this.contacts) {
      if (
        c.clockOffsetMs !== undefined &&
        (best === undefined || (c.lastContact ?? 0) > (best.lastContact ?? 0))
      )
        best = c;
    }
    return best?.clockOffsetMs ?? 0;
  }

  /**
   * One extra heartbeat to every orchestrator now, outside the schedule, asking for `confirmEpochs`
   * to be read from PostgreSQL. Resolves true once the first valid answer has been applied, false
   * when none answered within `timeoutMs`.
   */
  exchangeNow(confirmEpochs: string[], timeoutMs = 2000): Promise<boolean> {
    const request = { ...this.options.build(), confirmEpochs };
    return new Promise((resolve) => {
      let pending = this.contacts.length;
      const done = (ok: boolean): void => {
        pending--;
        if (ok) resolve(true);
        else if (pending === 0) resolve(false);
      };
      for (const contact of this.contacts) {
        void this.sendOne(contact, request, timeoutMs, false).then(done, () => done(false));
      }
    });
  }

  private sendRound(): void {
    const idle = this.contacts.filter((c) => !c.inFlight);
    if (idle.length === 0) return;
    const request = this.options.build();
    for (const contact of idle) void this.sendOne(contact, request);
  }

  /** Resolves true when the answer was valid and applied. */
  private async sendOne(
    contact: OrchestratorContact,
    request: HeartbeatRequest,
    timeoutMs = Math.max(50, Math.floor(this.options.intervalMs * 0.9)),
    scheduled = true,
  ): Promise<boolean> {
    if (scheduled) contact.inFlight = true;
    const sentAt = this.options.now();
    const sentAtWall = Date.now();
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
        return false;
      }
      // A 2xx is contact, even if the body is unusable: the orchestrator took our heartbeat.
      contact.lastContact = Math.max(sentAt, contact.lastContact ?? Number.NEGATIVE_INFINITY);
      let response: HeartbeatResponseDto;
      try {
        response = validatePlain(HeartbeatResponseDto, JSON.parse(text), { forbidUnknown: false });
      } catch (err) {
        this.fail(contact, `invalid heartbeat response: ${(err as Error).message}`);
        return false;
      }
      contact.clockOffsetMs = response.serverTime - (sentAtWall + Date.now()) / 2;
      if (contact.lastError !== undefined) {
        this.options.logger.info(
          { event: 'orchestrator.reachable', orchestrator: contact.url },
          'orchestrator reachable again',
        );
      }
      contact.lastError = undefined;
      this.options.onResponse(response, contact.url, sentAt);
      return true;
    } catch (err) {
      if (this.abort.signal.aborted) return false;
      const e = err as Error & { cause?: { code?: string } };
      this.fail(
        contact,
        e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (e.cause?.code ?? e.message),
      );
      return false;
    } finally {
      if (scheduled) contact.inFlight = false;
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
