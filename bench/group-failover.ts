/**
 * Time of a group failover and failback: N member scenarios in one group (each its own production
 * and replica agent, real processes; one orchestrator in this process), a manual group failover
 * then a group failback, R times. Per run: request → every member's operation succeeded, and
 * request → every member's DNS name answers its new active node (embedded DNS, polled every 5 ms).
 *
 *   npm run build && node dist/bench/group-failover.js [--members 3] [--runs 5]
 *
 * Agents on 127.0.10.1–(2N), port 17590; DNS 15590; own schema and Redis prefix (dropped at the end).
 */
import 'reflect-metadata';
import { Cluster } from '../test/support/cluster';
import { runBench, summary } from './lib/common';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const MEMBERS = arg('members', 3);
const RUNS = arg('runs', 5);

async function timeGroupMove(c: Cluster, type: 'failover' | 'failback', to: 'replica' | 'production') {
  const t0 = performance.now();
  const r = await c.api('POST', `/api/v1/groups/${c.groupId}/${type}`, { reason: `bench ${type}` });
  if (r.status !== 202 || r.body.refused.length)
    throw new Error(`${type}: ${r.status} ${JSON.stringify(r.body)}`);
  let dnsMs = 0;
  await Promise.all(
    c.members.map(async (m) => {
      const want = m[to].address;
      for (;;) {
        const got = await c.dnsAnswer(c.opts.dnsPort, m.record).catch(() => []);
        if (got.length === 1 && got[0] === want) break;
        await new Promise((res) => setTimeout(res, 5));
      }
      dnsMs = Math.max(dnsMs, performance.now() - t0);
    }),
  );
  for (const op of r.body.operations) {
    const done = await c.waitOperation(op.id, 60000);
    if (done.state !== 'succeeded')
      throw new Error(`${type} of ${op.scenarioId} ${done.state}: ${done.error}`);
  }
  return { dnsMs: Math.round(dnsMs), succeededMs: Math.round(performance.now() - t0) };
}

const c = new Cluster({
  label: 'benchgroup',
  addressPrefix: '127.0.10.',
  agentPort: 17590,
  dnsPort: 15590,
  failoverMode: 'manual',
  group: { members: MEMBERS },
  policy: { holdDownMs: 0 },
});

async function main(): Promise<void> {
  await c.start();
  const failovers: { dnsMs: number; succeededMs: number }[] = [];
  const failbacks: { dnsMs: number; succeededMs: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    failovers.push(await timeGroupMove(c, 'failover', 'replica'));
    for (const m of c.members) await c.waitState('failed_over', 30000, m.scenarioId);
    failbacks.push(await timeGroupMove(c, 'failback', 'production'));
    for (const m of c.members) await c.waitState('running', 30000, m.scenarioId);
  }
  console.log(
    JSON.stringify(
      {
        bench: 'group-failover',
        members: MEMBERS,
        runs: RUNS,
        failover: {
          requestToAllDnsMs: summary(failovers.map((x) => x.dnsMs)),
          requestToAllSucceededMs: summary(failovers.map((x) => x.succeededMs)),
        },
        failback: {
          requestToAllDnsMs: summary(failbacks.map((x) => x.dnsMs)),
          requestToAllSucceededMs: summary(failbacks.map((x) => x.succeededMs)),
        },
        samples: { failovers, failbacks },
      },
      null,
      2,
    ),
  );
}

// Clean-up after success, failure or Ctrl-C: agents, the app, the schema and Redis keys.
runBench(main, () => c.close());
