import { CheckDto, PolicyDto } from './dtos/scenario.dto';
import { DEFAULT_POLICY, FailoverPolicy, ScenarioCheck } from './scenario.types';

export const DEFAULT_CHECKS: ScenarioCheck[] = [
  {
    name: 'heartbeat',
    kind: 'heartbeat',
    intervalMs: 1000,
    timeoutMs: 1000,
    ttlMs: 3000,
    failureThreshold: 1,
    recoveryThreshold: 2,
  },
];

export function normalizeCheck(c: CheckDto): ScenarioCheck {
  const out: ScenarioCheck = {
    name: c.name,
    kind: c.kind,
    intervalMs: c.intervalMs ?? 1000,
    timeoutMs: c.timeoutMs ?? 1000,
    failureThreshold: c.failureThreshold ?? (c.kind === 'heartbeat' ? 1 : 3),
    recoveryThreshold: c.recoveryThreshold ?? 2,
  };
  for (const key of [
    'ttlMs',
    'port',
    'target',
    'expectStatus',
    'expectBody',
    'query',
    'expectResult',
    'agentCheck',
  ] as const) {
    if (c[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = c[key];
  }
  if (out.kind === 'heartbeat' && out.ttlMs === undefined) out.ttlMs = 3 * out.intervalMs;
  return out;
}

export function mergePolicy(base: FailoverPolicy, patch: PolicyDto | undefined): FailoverPolicy {
  const merged: FailoverPolicy = { ...base };
  if (!patch) return merged;
  for (const [k, v] of Object.entries(patch)) {
    if (v !== undefined) (merged as unknown as Record<string, unknown>)[k] = v;
  }
  return merged;
}

export { DEFAULT_POLICY };
