/**
 * Client-moved verification, the step `verify-clients` (after verify-dns, which proved the
 * authoritative server answers the new address: the "DNS updated" milestone).
 *
 * Rules (decided for issue 10):
 *   - Time starts when the step starts (its persisted `startedAt`, kept across re-runs), right
 *     after DNS updated. A resolver may serve an answer it cached just before the update for the
 *     records' TTL (the largest TTL of the scenario's records), so:
 *       warnAt   = start + TTL + marginMs: a resolver not answering the new address for every record
 *                  (still the old one, another one, nothing, or not answering) raises one
 *                  `clients-not-moved` warning event + webhook (once per resolver and operation);
 *                  so does a probe that has not succeeded;
 *       giveUpAt = warnAt + graceMs: the step stops watching and ends done with
 *                  `clientsMoved: false`. It never fails the operation: users are already moved
 *                  at the authoritative server, fencing and promotion are done, and failing now
 *                  would leave the scenario degraded for a cache we do not control.
 *   - A resolver counts as moved once it answered the new address for every record (and no old
 *     one); it is not asked again after that.
 *   - The probe (optional) resolves its host through the first resolver's answer for that record
 *     and reaches it only when that answer is the new address (reaching the old node would prove
 *     nothing); tcp: a connection; http(s): a response 200-399, with the service name as Host/SNI.
 *   - "clients moved" (`clientsMovedAt`) is the moment every resolver had moved and the probe
 *     succeeded, all within giveUpAt.
 * This file is pure (the clock and the network are passed in), so the rules are unit-tested.
 */
import { normalizeValue } from '../dns/dns.service';
import { ScenarioDnsRecord, VerifyClients } from '../scenarios/scenario.types';
import { formatResolver, HostPort, parseProbeTarget, parseResolver } from '../scenarios/verify-clients';

/**
 * The longest the step watches, whatever the TTL and settings: the scenario stays `failing_over`
 * meanwhile (no automatic failover, no other operation), so users' caches are not worth more.
 * With TTL + margin beyond it, the warning comes at this limit.
 */
export const MAX_CLIENTS_WATCH_MS = 120_000;
/** Pause between rounds of resolver queries. */
export const CLIENTS_POLL_MS = 250;
/** How long one resolver query or nothing. */
export const RESOLVER_QUERY_TIMEOUT_MS = 1000;

export interface RecordAnswer {
  name: string;
  type: string;
  values: string[];
  /** remaining TTL the resolver gave (seconds); null without an answer */
  ttl: number | null;
  error?: string;
}

export type ResolverVerdict = 'new' | 'old' | 'other' | 'error';

export interface ResolverWatch {
  resolver: string;
  verdict: ResolverVerdict;
  /** the first answer seen (a cached old one shows how long it still had to live) */
  first: RecordAnswer[] | null;
  last: RecordAnswer[] | null;
  /** ms after the step started when it first answered the new address for every record */
  movedAfterMs: number | null;
  warned: boolean;
}

export interface ProbeResult {
  ok: boolean;
  address: string | null;
  detail: string;
}

export interface ProbeWatch {
  kind: string;
  target: string;
  ok: boolean;
  last: ProbeResult | null;
  okAfterMs: number | null;
  warned: boolean;
}

export interface ClientsPlan {
  resolvers: HostPort[];
  records: Pick<ScenarioDnsRecord, 'name' | 'type'>[];
  newValue: string;
  oldValue: string | null;
  probe: {
    kind: 'tcp' | 'http';
    host: string;
    port: number;
    url?: URL;
    timeoutMs: number;
    target: string;
  } | null;
  startedAt: number;
  warnAt: number;
  giveUpAt: number;
}

/** The plan of one operation's verification (settings already validated when stored). */
export function clientsPlan(
  vc: VerifyClients,
  records: ScenarioDnsRecord[],
  newValue: string,
  oldValue: string | null,
  startedAt: number,
): ClientsPlan {
  const ttlMs = Math.max(0, ...records.map((r) => r.ttl)) * 1000;
  const limit = startedAt + MAX_CLIENTS_WATCH_MS;
  const warnAt = Math.min(startedAt + ttlMs + vc.marginMs, limit);
  const resolvers = vc.resolvers.map((r) => {
    const p = parseResolver(r);
    if (typeof p === 'string') throw new Error(`stored resolver ${r}: ${p}`);
    return p;
  });
  let probe: ClientsPlan['probe'] = null;
  if (vc.probe) {
    const t = parseProbeTarget(vc.probe.kind, vc.probe.target);
    if (typeof t === 'string') throw new Error(`stored probe target ${vc.probe.target}: ${t}`);
    probe = { kind: vc.probe.kind, ...t, timeoutMs: vc.probe.timeoutMs, target: vc.probe.target };
  }
  return {
    resolvers,
    records: records.map((r) => ({ name: r.name, type: r.type })),
    newValue,
    oldValue: oldValue === newValue ? null : oldValue,
    probe,
    startedAt,
    warnAt,
    giveUpAt: Math.min(warnAt + vc.graceMs, limit),
  };
}

/** Where one resolver stands from its answers for every record. */
export function judgeAnswers(
  answers: RecordAnswer[],
  plan: Pick<ClientsPlan, 'newValue' | 'oldValue'>,
): ResolverVerdict {
  if (answers.some((a) => a.error)) return 'error';
  if (plan.oldValue && answers.some((a) => hasValue(a, plan.oldValue!))) return 'old';
  if (answers.every((a) => hasValue(a, plan.newValue))) return 'new';
  return 'other';
}

function hasValue(a: RecordAnswer, value: string): boolean {
  const v = normalizeValue(a.type, value);
  return a.values.some((x) => normalizeValue(a.type, x) === v);
}

export interface Warning {
  /** `resolver` or `probe` */
  subject: 'resolver' | 'probe';
  /** the resolver address, or the probe target */
  target: string;
  /** stable per operation: the key of its webhook and of "warned once" */
  key: string;
  message: string;
  details: Record<string, unknown>;
}

/** The watch over one operation's resolvers and probe: fed observations, says what to do next. */
export class ClientsWatch {
  readonly resolvers: ResolverWatch[];
  readonly probe: ProbeWatch | null;
  movedAt: number | null = null;

  constructor(readonly plan: ClientsPlan) {
    this.resolvers = plan.resolvers.map((r) => ({
      resolver: formatResolver(r),
      verdict: 'error' as const,
      first: null,
      last: null,
      movedAfterMs: null,
      warned: false,
    }));
    this.probe = plan.probe
      ? {
          kind: plan.probe.kind,
          target: plan.probe.target,
          ok: false,
          last: null,
          okAfterMs: null,
          warned: false,
        }
      : null;
  }

  /** When each resolver is worth asking again (a cached old answer cannot change before it expires). */
  private readonly nextAt: number[] = [];

  /** Resolvers not moved yet. */
  pending(): number[] {
    return this.resolvers.flatMap((r, i) => (r.verdict === 'new' ? [] : [i]));
  }

  /** Resolvers to ask this round: not moved, and not holding an old answer that is still fresh. */
  askNow(now: number): number[] {
    return this.pending().filter((i) => (this.nextAt[i] ?? 0) <= now);
  }

  observe(i: number, answers: RecordAnswer[], now: number): void {
    const w = this.resolvers[i];
    w.first ??= answers;
    w.last = answers;
    w.verdict = judgeAnswers(answers, this.plan);
    if (w.verdict === 'new') w.movedAfterMs ??= now - this.plan.startedAt;
    // An old answer with t seconds left is served until then: ask again a second before it expires,
    // then every poll. A second early because TTLs are whole seconds and resolvers round them
    // either way (BIND showed 5 with 4.2 s left): asking at t would see the move up to 1 s late.
    const ttl = Math.min(...answers.map((a) => a.ttl ?? 0));
    this.nextAt[i] = w.verdict === 'old' && ttl > 1 ? now + (ttl - 1) * 1000 : 0;
  }

  /** The address the probe may reach now: the first resolver's answer for its host, if that is the new address. */
  probeAddress(): string | null {
    const p = this.plan.probe;
    const first = this.resolvers[0];
    if (!p || first.verdict !== 'new') return null;
    const a = first.last?.find((x) => x.name === p.host);
    return a && hasValue(a, this.plan.newValue) ? this.plan.newValue : null;
  }

  observeProbe(result: ProbeResult, now: number): void {
    if (!this.probe) return;
    this.probe.last = result;
    if (result.ok && !this.probe.ok) {
      this.probe.ok = true;
      this.probe.okAfterMs = now - this.plan.startedAt;
    }
  }

  /** True once every resolver moved and the probe (if any) succeeded; records the moment. */
  moved(now: number): boolean {
    if (this.movedAt !== null) return true;
    if (this.pending().length > 0 || (this.probe && !this.probe.ok)) return false;
    this.movedAt = now;
    return true;
  }

  /** Warnings due now (each returned once): everything not moved at TTL + margin. */
  due(now: number): Warning[] {
    if (now < this.plan.warnAt || this.movedAt !== null) return [];
    const out: Warning[] = [];
    this.resolvers.forEach((r, i) => {
      if (r.verdict === 'new' || r.warned) return;
      r.warned = true;
      const what =
        r.verdict === 'old'
          ? `still answers the old address ${this.plan.oldValue}`
          : r.verdict === 'error'
            ? `does not answer (${r.last?.find((a) => a.error)?.error ?? 'no answer'})`
            : `answers ${describe(r.last)} instead of ${this.plan.newValue}`;
      out.push({
        subject: 'resolver',
        target: r.resolver,
        key: `resolver${i}`,
        message: `resolver ${r.resolver} ${what} ${this.waitedText(now)}`,
        details: { resolver: r.resolver, verdict: r.verdict, answer: r.last, expected: this.plan.newValue },
      });
    });
    if (this.probe && !this.probe.ok && !this.probe.warned) {
      this.probe.warned = true;
      out.push({
        subject: 'probe',
        target: this.probe.target,
        key: 'probe',
        message: `client probe ${this.probe.kind} ${this.probe.target} has not succeeded (${this.probe.last?.detail ?? 'not tried: the first resolver does not answer the new address'}) ${this.waitedText(now)}`,
        details: { probe: this.probe.target, kind: this.probe.kind, last: this.probe.last },
      });
    }
    return out;
  }

  /** The step output: the outcome, every resolver's last answer with its remaining TTL, the probe. */
  output(now: number): Record<string, unknown> {
    return {
      clientsMoved: this.movedAt !== null,
      clientsMovedAt: this.movedAt === null ? null : new Date(this.movedAt).toISOString(),
      movedAfterMs: this.movedAt === null ? null : this.movedAt - this.plan.startedAt,
      waitedMs: now - this.plan.startedAt,
      answers: this.plan.newValue,
      old: this.plan.oldValue,
      warnAfterMs: this.plan.warnAt - this.plan.startedAt,
      giveUpAfterMs: this.plan.giveUpAt - this.plan.startedAt,
      resolvers: this.resolvers,
      probe: this.probe,
    };
  }

  private waitedText(now: number): string {
    return `${Math.round((now - this.plan.startedAt) / 100) / 10} s after DNS was updated (TTL + margin ${
      (this.plan.warnAt - this.plan.startedAt) / 1000
    } s)`;
  }
}

function describe(answers: RecordAnswer[] | null): string {
  const values = (answers ?? []).flatMap((a) => a.values);
  return values.length > 0 ? values.join(', ') : 'no address';
}

/** The network and the clock, passed in (unit tests use fakes). */
export interface ClientsIo {
  now(): number;
  sleep(ms: number): Promise<void>;
  query(
    resolver: HostPort,
    record: { name: string; type: string },
  ): Promise<{ values: string[]; ttl: number | null }>;
  probe(probe: NonNullable<ClientsPlan['probe']>, address: string): Promise<ProbeResult>;
  /** raise a warning (event + webhook); a failure to record it is logged, not thrown */
  warn(w: Warning): Promise<void>;
}

/** Watch until clients moved or giveUpAt; returns the step output. Always at least one round. */
export async function watchClients(plan: ClientsPlan, io: ClientsIo): Promise<Record<string, unknown>> {
  const watch = new ClientsWatch(plan);
  for (;;) {
    await Promise.all(
      watch.askNow(io.now()).map(async (i) => {
        const answers = await Promise.all(
          plan.records.map(async (rec): Promise<RecordAnswer> => {
            try {
              const r = await io.query(plan.resolvers[i], rec);
              return { name: rec.name, type: rec.type, values: r.values, ttl: r.ttl };
            } catch (err) {
              return { name: rec.name, type: rec.type, values: [], ttl: null, error: (err as Error).message };
            }
          }),
        );
        watch.observe(i, answers, io.now());
      }),
    );
    const address = watch.probe && !watch.probe.ok ? watch.probeAddress() : null;
    if (address && plan.probe) {
      const r = await io
        .probe(plan.probe, address)
        .catch((err: Error) => ({ ok: false, address, detail: err.message }));
      watch.observeProbe(r, io.now());
    }
    const now = io.now();
    if (watch.moved(now)) return watch.output(now);
    for (const w of watch.due(now)) await io.warn(w);
    if (now >= plan.giveUpAt) return watch.output(io.now());
    await io.sleep(Math.min(CLIENTS_POLL_MS, Math.max(0, plan.giveUpAt - now)));
  }
}
