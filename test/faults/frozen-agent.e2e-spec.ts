/**
 * Never two actives when production's agent is frozen (SIGSTOP), for 10 s and for 30 s, during an
 * automatic failover with the demo's timings (heartbeat 500 ms, TTL 2 s, lease 2.5 s + 0.3 s).
 * A frozen agent cannot demote itself; its watchdog (a separate process) kills the protected
 * service when the lease runs out, before the orchestrator promotes the replica by lease expiry.
 *
 * Checked at every 100 ms sample between the freeze and the end, from three independent records:
 * the protected service's own liveness beats, the watchdog's entry in the old production's action
 * log, and the replica's promote in its action log (all CLOCK_REALTIME nanoseconds). On resume the
 * orchestrator's abandoned fence request is refused (deadline passed), the old production demotes
 * itself, and (10 s case) a forged high epoch is refused and the next failover still succeeds.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postJson, sleep, writeScript } from '@ha/testing/agent-harness';
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

const SAMPLE_NS = 100_000_000n;

jest.setTimeout(120_000);

function frozenCluster(label: string, prefix: string, port: number): Cluster {
  return new Cluster({
    label,
    addressPrefix: prefix,
    agentPort: 17000 + port,
    dnsPort: 15000 + port,
    heartbeatIntervalMs: 500,
    watchdog: { beatMs: 100 },
    policy: { leaseMs: 2500, leaseMarginMs: 300 },
    // The watchdog also writes its firing into the node's timed action log.
    agentExtra: (name) => ({
      watchdog: {
        pidFiles: [join(c(label).dir, name, 'service.pid')],
        command: {
          command: writeScript(
            join(c(label).dir, name),
            'watchdog-fired.sh',
            `echo "$(date +%s%N) watchdog-fired" >> "${join(c(label).dir, name, 'actions.ns.log')}"`,
          ),
        },
      },
    }),
  });
}

const clusters = new Map<string, Cluster>();
function c(label: string): Cluster {
  return clusters.get(label)!;
}

async function freezeAndCheck(cl: Cluster, pauseMs: number): Promise<void> {
  const prod = cl.production;
  const replica = cl.replica;
  await waitFor(
    'production watchdog armed',
    // Armed with a deadline: the agent holds production and the watchdog acknowledged its lease.
    async () => {
      const st = await cl.agentStatus(prod);
      return (
        st?.scenarios?.[0]?.role === 'production' && st.watchdog?.armed && st.watchdog.deadlineInMs !== null
      );
    },
    10000,
  );
  await waitFor('service beating', async () => prod.service!.beats().length > 3, 5000);

  const frozenAt = BigInt(Date.now()) * 1_000_000n;
  prod.agent!.signal('SIGSTOP');
  // A caller that gives up after 2 s, whose request the agent can only read after the pause.
  const late = postJson<{ reason?: string }>(
    `${prod.agentUrl}/actions/demote`,
    {
      operationId: randomUUID(),
      stepId: 'late-demote',
      scenarioId: cl.scenarioId,
      epoch: 1,
      deadline: Date.now() + 2000,
    },
    { token: prod.actionToken, timeoutMs: pauseMs + 20000 },
  );
  try {
    await cl.waitDns(replica.address, pauseMs + 20000);
    const rest = pauseMs - (Date.now() - Number(frozenAt / 1_000_000n));
    if (rest > 0) await sleep(rest);
    // Still frozen until here: the replica serves alone.
    expect(cl.actionsLog(prod).some((l) => l.startsWith('demote'))).toBe(false);
  } finally {
    prod.agent!.signal('SIGCONT');
  }
  const lateAnswer = await late;
  expect(lateAnswer.status).toBe(409);
  expect(lateAnswer.body.reason).toBe('deadline_passed');
  await waitFor(
    'old production demoted at epoch 2',
    async () => {
      const s = (await cl.agentStatus(prod))?.scenarios?.[0];
      return s?.role === 'demoted' && s.epoch === 2;
    },
    20000,
  );
  await sleep(1000); // anything late would have run by now
  const endNs = BigInt(Date.now()) * 1_000_000n;

  const ops = await cl.operations();
  const failover = await cl.waitOperation(ops.find((o) => o.type === 'failover').id);
  expect(failover).toMatchObject({ state: 'succeeded', trigger: 'auto', epoch: 2 });
  const fence = failover.steps.find((s: { name: string }) => s.name === 'fence');
  expect(fence.output).toMatchObject({ fencedBy: 'lease-expiry', watchdogArmed: true });

  // The three records.
  const beats = prod.service!.beats();
  const lastBeat = beats[beats.length - 1];
  const fired = cl.timedActions(prod).filter((a) => a.line === 'watchdog-fired');
  const promotes = cl.timedActions(replica).filter((a) => a.line.startsWith('promote epoch=2'));
  // It fires when the lease runs out; a resumed agent's first kick (its lease long expired) may
  // make it fire once more at once, on an already dead service.
  expect(fired.length).toBeGreaterThanOrEqual(1);
  expect(promotes).toHaveLength(1);
  expect(prod.service!.alive()).toBe(false);
  const promotedAt = promotes[0].ns;
  // Old production serves until the later of its last beat and the watchdog's firing (bounded
  // above by it: the kill is what stops the beats); the replica from its promote on.
  const oldServesUntil = lastBeat > fired[0].ns ? lastBeat : fired[0].ns;
  let overlapping = 0;
  for (let t = frozenAt; t <= endNs; t += SAMPLE_NS) {
    const oldActive = t <= oldServesUntil;
    const newActive = t >= promotedAt;
    if (oldActive && newActive) overlapping++;
  }
  if (overlapping > 0 || process.env.FROZEN_DEBUG) {
    // What each party saw, for the post-mortem.
    console.log(
      JSON.stringify(
        { frozenAt: String(frozenAt), lastBeat: String(lastBeat), fired, promotes, fence: fence.output },
        (_k, v) => (typeof v === 'bigint' ? String(v) : v),
      ),
    );
    console.log(readFileSync(join(prod.dir, 'state.json.watchdog.sock.log'), 'utf8'));
  }
  expect(overlapping).toBe(0);
  expect(oldServesUntil < promotedAt).toBe(true);
  // The watchdog fired within about a lease of the freeze, long before the pause ended.
  expect(Number(fired[0].ns - frozenAt) / 1e6).toBeLessThan(2500 + 1000);

  // Nothing the orchestrator abandoned during the pause ran on resume: the only demotions are the
  // agent's own (self-fence on resume, then its view of epoch 2), and the late request never ran.
  const demotes = cl.actionsLog(prod).filter((l) => l.startsWith('demote'));
  expect(demotes.length).toBeGreaterThanOrEqual(1);
  for (const d of demotes) expect(d).toMatch(/ step=self-(fence|demote)-/);
  const refused = prod.agent!.logs().filter((l) => l.event === 'action.refused');
  expect(refused.some((l) => l.reason === 'deadline_passed' && l.stepId === 'late-demote')).toBe(true);
  // The agent noticed the pause and self-fenced before doing anything else.
  expect(
    prod.agent!.logs().some((l) => l.event === 'agent.paused' && Number(l.pausedForMs) >= pauseMs - 1000),
  ).toBe(true);
}

describe('frozen production agent: 10 s SIGSTOP during an automatic failover', () => {
  const cl = frozenCluster('frozen10', '127.0.0.24', 240);
  clusters.set('frozen10', cl);
  beforeAll(() => cl.start());
  afterAll(() => cl.close());

  it('no moment with two actives; a late action is refused; the old production demotes itself', async () => {
    await freezeAndCheck(cl, 10_000);
  });

  it('a forged high epoch is refused and stored nowhere; the next failover succeeds', async () => {
    for (const n of [cl.production, cl.replica]) {
      for (const [epoch, status] of [
        [2 ** 31, 400],
        [1e300, 400],
        [2_000_000_000, 409],
      ] as const) {
        const r = await postJson<{ reason?: string }>(
          `${n.agentUrl}/actions/promote`,
          {
            operationId: randomUUID(),
            stepId: `forged-${epoch}`,
            scenarioId: cl.scenarioId,
            epoch,
            deadline: Date.now() + 10000,
          },
          { token: n.actionToken },
        );
        expect(r.status).toBe(status);
        if (status === 409) expect(r.body.reason).toBe('epoch_not_issued');
      }
      const s = (await cl.agentStatus(n))?.scenarios?.[0];
      expect(s.epoch).toBe(2);
    }
    await waitFor(
      'old production healthy again',
      async () =>
        (await cl.api('GET', `/api/v1/nodes/${cl.production.id}/health`)).body.verdict === 'healthy',
      20000,
    );
    const res = await cl.api('POST', `/api/v1/scenarios/${cl.scenarioId}/failover`, {
      reason: 'back after the freeze test',
    });
    expect(res.status).toBe(202);
    const op = await cl.waitOperation(res.body.id);
    expect(op).toMatchObject({ state: 'succeeded', epoch: 3 });
    await cl.waitDns(cl.production.address);
    expect(cl.actionsLog(cl.production).filter((l) => l.startsWith('promote epoch=3'))).toHaveLength(1);
  });
});

describe('frozen production agent: 30 s SIGSTOP during an automatic failover', () => {
  const cl = frozenCluster('frozen30', '127.0.0.25', 250);
  clusters.set('frozen30', cl);
  beforeAll(() => cl.start());
  afterAll(() => cl.close());

  it('no moment with two actives; a late action is refused; the old production demotes itself', async () => {
    await freezeAndCheck(cl, 30_000);
  });
});
