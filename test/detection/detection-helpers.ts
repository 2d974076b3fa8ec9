/** Small helpers shared by the detection e2e tests (health, events, watching verdicts over time). */
import { Cluster, ClusterNode } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

export interface CheckEvidence {
  scenarioId: string;
  name: string;
  kind: string;
  state: 'pending' | 'passing' | 'warning' | 'failing';
  lastStatus: string | null;
  lastOutput?: string;
  consecutiveFailures: number;
}

export interface Health {
  verdict: string;
  evidence: {
    verdict: string;
    view: string;
    reason: string;
    checks: CheckEvidence[];
    observers: { observer: string; reachable: boolean; fresh: boolean }[];
  } | null;
  heartbeat: { seq: number; bootId: string } | null;
  history: { kind: string; severity: string; message: string }[];
}

export interface EventRow {
  id: string;
  kind: string;
  severity: string;
  nodeId: string | null;
  scenarioId: string | null;
  message: string;
  details: Record<string, unknown>;
}

export async function health(c: Cluster, n: ClusterNode): Promise<Health> {
  const r = await c.api<Health>('GET', `/api/v1/nodes/${n.id}/health`);
  if (r.status !== 200) throw new Error(`health of ${n.name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export function check(h: Health, name: string): CheckEvidence | undefined {
  return h.evidence?.checks.find((x) => x.name === name);
}

/** Waits until the node's health satisfies `predicate`; returns that health. */
export function waitHealth(
  c: Cluster,
  n: ClusterNode,
  what: string,
  predicate: (h: Health) => boolean,
  timeoutMs = 20000,
): Promise<Health> {
  return waitFor(
    `${n.name}: ${what}`,
    async () => {
      const h = await health(c, n);
      return predicate(h) ? h : null;
    },
    timeoutMs,
  );
}

/** Every verdict the health endpoint shows for `ms`, polled every 100 ms (in order, de-duplicated). */
export async function watchVerdicts(c: Cluster, n: ClusterNode, ms: number): Promise<string[]> {
  const seen: string[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = (await health(c, n)).verdict;
    if (seen[seen.length - 1] !== v) seen.push(v);
    await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}

/** Persisted events, oldest first. */
export async function events(c: Cluster, query: string): Promise<EventRow[]> {
  const r = await c.api<{ items: EventRow[] }>('GET', `/api/v1/events?limit=200&${query}`);
  if (r.status !== 200) throw new Error(`events: ${r.status} ${JSON.stringify(r.body)}`);
  return [...r.body.items].reverse();
}

/** `from → to` pairs of the node's persisted verdict-changed events, oldest first. */
export async function verdictChanges(c: Cluster, n: ClusterNode): Promise<string[]> {
  const rows = await events(c, `nodeId=${n.id}&kind=verdict-changed`);
  return rows.map((e) => `${String(e.details.from)}→${String(e.details.to)}`);
}
