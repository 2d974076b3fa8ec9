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
