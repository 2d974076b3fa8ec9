import { DnsRecordType } from '../dns/dns-provider.interface';

export const SCENARIO_STATES = [
  'stopped',
  'starting',
  'running',
  'failing_over',
  'failed_over',
  'failing_back',
  'ar_testing',
  'degraded',
  'stopping',
] as const;
export type ScenarioState = (typeof SCENARIO_STATES)[number];

/** States whose active node serves users and is watched (the detector's, and a group's sides). */
export const PROTECTED_STATES: ReadonlySet<string> = new Set([
  'running',
  'degraded',
  'failed_over',
  'failing_over',
  'failing_back',
  'ar_testing',
]);

export const FAILOVER_MODES = ['auto', 'manual'] as const;
export type FailoverMode = (typeof FAILOVER_MODES)[number];

export interface ScenarioDnsRecord {
  zone: string;
  name: string;
  type: DnsRecordType;
  ttl: number;
}

export const CHECK_KINDS = ['heartbeat', 'ping', 'tcp', 'http', 'database', 'user'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** A check definition of a scenario; it applies to every node of the scenario unless `nodes` narrows it. */
export interface ScenarioCheck {
  name: string;
  kind: CheckKind;
  intervalMs: number;
  timeoutMs: number;
  /** consecutive failures before the check counts as failing */
  failureThreshold: number;
  /** consecutive successes before a failing check counts as passing again */
  recoveryThreshold: number;
  /** heartbeat: TTL; others: unused */
  ttlMs?: number;
  port?: number;
  /** http: url path or full url; database: connection string (no secrets logged) */
  target?: string;
  expectStatus?: number;
  expectBody?: string;
  query?: string;
  expectResult?: string;
  /** user: the name of a check in the agent's own config */
  agentCheck?: string;
}

export interface FailoverPolicy {
  /** After a failover, no automatic failover for this long. */
  holdDownMs: number;
  /** Self-fencing lease the agents use; the orchestrator waits it out when fencing is impossible. */
  leaseMs: number;
  /** Extra margin added to the lease for clock drift and delivery delays. */
  leaseMarginMs: number;
  /** Refuse to promote a replica reporting more lag than this (null = no bound). */
  maxLagSeconds: number | null;
  /** Votes besides the orchestrator needed to declare production failed (replica agents that lost it). */
  peerQuorum: number;
  /** Verdict hold-down before a failed node is declared recovered. */
  recoveryHoldMs: number;
  /** How long the old production's agent may take to answer `demote` before it counts as unreachable. */
  fenceTimeoutMs?: number;
  /** Optional fencing hook: an action run by another node's agent when production's agent is unreachable. */
  fencingHook: { nodeId: string; action: 'fence' } | null;
  /**
   * Fence an unreachable old production by lease expiry only when its agent reported an armed
   * watchdog (a frozen agent cannot demote itself; the watchdog kills the service). false trusts
   * the agent's self-demotion alone: two actives are possible while that agent is paused.
   */
  requireWatchdog: boolean;
  /** a promotion target must carry every one of these node labels (force overrides) */
  requiredLabels?: Record<string, string>;
  /** among the eligible, nodes carrying all of these come first */
  preferredLabels?: Record<string, string>;
  /** false: a failover stays within the old active node's `site` label (force overrides); default true */
  allowCrossSite?: boolean;
  /** After "DNS updated": wait until users' resolvers (and a client-path probe) see the new address. */
  verifyClients?: VerifyClients | null;
  /** Moving users back after a failover: by an operator (default), or automatically in a window. */
  failback?: FailbackPolicy;
  /**
   * External alerts (alerts/): a firing alert about a node is always one observer's vote against it.
   * With `failover` true, a firing alert named in `names` about the active node fails the scenario
   * over on its own (every other rule still applies: mode, maintenance, hold-down, storm brake).
   */
  alerts?: { failover: boolean; names: string[] } | null;
}

export const FAILBACK_MODES = ['manual', 'automatic'] as const;
export type FailbackMode = (typeof FAILBACK_MODES)[number];

/**
 * Automatic failback: while a window is open, once the original production is healthy again and its
 * agent reports it resynced (replication lag at most maxLagSeconds), the detector fails back.
 * Never in the hold-down after a move, never in maintenance. See detection/decision.ts.
 */
export interface FailbackPolicy {
  mode: FailbackMode;
  /** automatic: when windows open (cron, optional seconds field) and how long each lasts */
  window?: { cron: string; durationMinutes: number; timezone?: string } | null;
  /** the old production counts as resynced when its agent reports at most this lag (default 0) */
  maxLagSeconds?: number;
}

export const CLIENT_PROBE_KINDS = ['tcp', 'http'] as const;
export type ClientProbeKind = (typeof CLIENT_PROBE_KINDS)[number];

/**
 * A client-path probe: the service name resolved through the first resolver, then reached there.
 * tcp: `target` is `<dns name>:<port>`; http: an http(s) URL whose host is the DNS name.
 */
export interface ClientProbe {
  kind: ClientProbeKind;
  target: string;
  timeoutMs: number;
}

/**
 * Client-moved verification (step verify-clients), stored normalized with its defaults filled in.
 * See apps/orchestrator/src/operations/clients-moved.ts for the rules.
 */
export interface VerifyClients {
  /** recursive resolvers users ask, `host:port` with an IP literal host (`[v6]:port` for IPv6) */
  resolvers: string[];
  probe: ClientProbe | null;
  /** after DNS updated + the records' TTL + this margin, a resolver not answering the new address is warned about */
  marginMs: number;
  /** after the warning, keep watching this long; then the step ends with clientsMoved false (no failure) */
  graceMs: number;
}

/**
 * Defaults fit the default heartbeat check (interval 1 s, TTL 3 s): lease + margin = TTL, so when
 * the detector declares production failed its self-fencing lease has already expired and fencing
 * an unreachable production adds no wait.
 */
export const DEFAULT_POLICY: FailoverPolicy = {
  holdDownMs: 60_000,
  leaseMs: 2_500,
  leaseMarginMs: 500,
  maxLagSeconds: null,
  peerQuorum: 1,
  recoveryHoldMs: 10_000,
  fenceTimeoutMs: 5_000,
  fencingHook: null,
  requireWatchdog: true,
};
