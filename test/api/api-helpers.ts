/** Shared steps of the API tests: create resources through the API, read rows of the test schema. */
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { http, InProcessOrchestrator, startOrchestrator } from '../support/orchestrator';

export const TABLES = [
  'nodes',
  'scenarios',
  'scenario_replicas',
  'groups',
  'group_members',
  'api_tokens',
  'audit_log',
  'idempotency_keys',
] as const;

export function db(o: InProcessOrchestrator): DataSource {
  return o.app.get(DataSource);
}

export async function rows<T = Record<string, unknown>>(
  o: InProcessOrchestrator,
  sql: string,
  params: unknown[] = [],
) {
  return (await db(o).query(sql, params)) as T[];
}

export async function count(o: InProcessOrchestrator, table: string, where = '', params: unknown[] = []) {
  const [r] = await rows<{ n: number }>(o, `SELECT count(*)::int AS n FROM ${table} ${where}`, params);
  return r.n;
}

/**
 * Row count and a checksum of the contents of every API table, to assert that a refused request
 * changed nothing (no insert, no delete, no update).
 */
export async function snapshot(o: InProcessOrchestrator): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of TABLES) {
    const [r] = await rows<{ n: number; sum: string | null }>(
      o,
      `SELECT count(*)::int AS n, md5(string_agg(x::text, '|' ORDER BY x::text)) AS sum FROM ${t} x`,
    );
    out[t] = `${r.n}:${r.sum ?? '-'}`;
  }
  return out;
}

let seq = 0;
export async function createNode(o: InProcessOrchestrator, name: string, token = o.adminToken) {
  seq++;
  const r = await http(o.url, 'POST', '/api/v1/nodes', {
    token,
    body: { name, address: `127.0.1.${seq % 250}`, agentUrl: `http://127.0.1.${seq % 250}:7400` },
  });
  if (r.status !== 201) throw new Error(`create node ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { node: { id: string; name: string }; agentToken: string; actionToken: string };
}

export async function createScenario(
  o: InProcessOrchestrator,
  name: string,
  productionNodeId: string,
  replicaNodeIds: string[],
  token = o.adminToken,
) {
  const r = await http(o.url, 'POST', '/api/v1/scenarios', {
    token,
    body: {
      name,
      productionNodeId,
      replicaNodeIds,
      dnsRecords: [{ zone: 'example.test', name: `${name}.example.test`, type: 'A', ttl: 5 }],
    },
  });
  if (r.status !== 201) throw new Error(`create scenario ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; name: string };
}

export async function createToken(
  o: InProcessOrchestrator,
  name: string,
  role: 'viewer' | 'operator' | 'admin',
) {
  const r = await http(o.url, 'POST', '/api/v1/tokens', { token: o.adminToken, body: { name, role } });
  if (r.status !== 201) throw new Error(`create token ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; name: string; token: string };
}

export const unknownId = () => randomUUID();

/**
 * An in-process orchestrator for API tests. Its embedded DNS server takes a free port, so test
 * files running in parallel do not fight over the default DNS_PORT.
 */
export function startApi(label: string, extra: Record<string, string> = {}): Promise<InProcessOrchestrator> {
  return startOrchestrator(label, { DNS_PORT: '0', ...extra });
}
