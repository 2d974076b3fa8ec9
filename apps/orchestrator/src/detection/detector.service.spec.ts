import { randomUUID } from 'node:crypto';
import { HeartbeatRequest, LocalCheckResult, PeerView } from '@ha/contracts';
import { HeartbeatStore } from '../heartbeats/heartbeat.store';
import { ScenarioCheck } from '../scenarios/scenario.types';
import { TopologyNode, TopologyScenario, TopologyService } from '../topology/topology.service';
import { DetectorService } from './detector.service';

/**
 * The detector with its ports faked (PostgreSQL, operations, storm brake, topology) and the real
 * in-memory heartbeat store: heartbeats in, verdicts and events out, with explicit clock values.
 */
const TTL = 1000;
const CHECKS: ScenarioCheck[] = [
  {
    name: 'heartbeat',
    kind: 'heartbeat',
    intervalMs: 250,
    timeoutMs: 250,
    ttlMs: TTL,
    failureThreshold: 1,
    recoveryThreshold: 1,
  },
  {
    name: 'app',
    kind: 'user',
    agentCheck: 'app',
    intervalMs: 250,
    timeoutMs: 250,
    failureThreshold: 2,
    recoveryThreshold: 1,
  },
];

function setup(
  failoverMode: 'auto' | 'manual' = 'manual',
  /** other scenarios of a switch-all-if-any-fails group with `orders` (their own nodes, no checks) */
  mates: { name: string; state: string; holdUntil?: Date; failoverMode?: 'auto' | 'manual' }[] = [],
  opts: { policy?: Record<string, unknown>; switchManualMembers?: boolean; twoGroups?: boolean } = {},
) {
  const node = (name: string): TopologyNode => ({
    id: randomUUID(),
    name,
    address: '127.0.0.1',
    agentUrl: '',
    labels: {},
  });
  const prod = node('prod');
  const replica = node('replica');
  const stranger = node('stranger'); // in no scenario with prod
  const scenario = {
    entity: {
      id: randomUUID(),
      name: 'orders',
      state: 'running',
      failoverMode,
      productionNodeId: prod.id,
      activeNodeId: prod.id,
      epoch: 1,
      holdUntil: null,
      checks: CHECKS,
      policy: { peerQuorum: 1, recoveryHoldMs: 500, ...opts.policy },
    },
    replicaNodeIds: [replica.id],
    nodeIds: [prod.id, replica.id],
  } as unknown as TopologyScenario;
  const strangerScenario = {
    entity: {
      ...scenario.entity,
      id: randomUUID(),
      name: 'other',
      productionNodeId: stranger.id,
      activeNodeId: stranger.id,
    },
    replicaNodeIds: [],
    nodeIds: [stranger.id],
  } as unknown as TopologyScenario;
  const mateScenarios = mates.map((m) => {
    const p = node(`${m.name}-prod`);
    return {
      entity: {
        ...scenario.entity,
        id: randomUUID(),
        name: m.name,
        state: m.state,
        productionNodeId: p.id,
        activeNodeId: p.id,
        holdUntil: m.holdUntil ?? null,
        failoverMode: m.failoverMode ?? scenario.entity.failoverMode,
        checks: [],
      },
      replicaNodeIds: [],
      nodeIds: [p.id],
      node: p,
    } as unknown as TopologyScenario & { node: TopologyNode };
  });
  const nodes = new Map([prod, replica, stranger, ...mateScenarios.map((m) => m.node)].map((n) => [n.id, n]));
  const scenarios = [scenario, strangerScenario, ...mateScenarios];
  const groups = {
    switchAllGroupsOfMany: jest.fn(async (ids: string[]) =>
      mates.length && ids.includes(scenario.entity.id)
        ? new Map([
            [
              scenario.entity.id,
              opts.twoGroups
                ? // orders is in both: site (with the first mate) and site-b (with the others)
                  [
                    {
                      id: 'group-1',
                      name: 'site',
                      scenarioIds: [scenario.entity.id, mateScenarios[0].entity.id],
                    },
                    {
                      id: 'group-2',
                      name: 'site-b',
                      scenarioIds: [scenario.entity.id, ...mateScenarios.slice(1).map((x) => x.entity.id)],
                    },
                  ]
                : [
                    {
                      id: 'group-1',
                      name: 'site',
                      ...(opts.switchManualMembers !== undefined && {
                        switchManualMembers: opts.switchManualMembers,
                      }),
                      scenarioIds: scenarios.filter((x) => x !== strangerScenario).map((x) => x.entity.id),
                    },
                  ],
            ],
          ])
        : new Map(),
    ),
  };
  const stormBrake = {
    allowIncidents: jest.fn(async (cs: { scenarioId: string }[]) => new Set(cs.map((c) => c.scenarioId))),
    isEngaged: jest.fn(async () => false),
  };
  const topology = {
    node: (id: string) => nodes.get(id),
    scenario: (id: string) => scenarios.find((x) => x.entity.id === id),
    allScenarios: () => scenarios,
    scenariosOfNode: (id: string) => scenarios.filter((s) => s.nodeIds.includes(id)),
  } as unknown as TopologyService;

  const written: { kind: string; nodeId: string | null; message: string; details?: unknown }[] = [];
  /** decision rows as the detector inserts them (the columns the tests look at) */
  const decisions: {
    id: string;
    scenarioId: string;
    outcome: string;
    rule: string;
    operationId: string | null;
  }[] = [];
  let pgDown = false;
  const dataSource = {
    transaction: async (fn: (m: unknown) => Promise<void>) => {
      if (pgDown) throw new Error('connection refused');
      const staged: typeof written = [];
      const stagedDecisions: typeof decisions = [];
      await fn({
        getRepository: () => ({ insert: async (e: (typeof written)[number]) => void staged.push(e) }),
        query: async (sql: string, p: unknown[]) => {
          if (!sql.includes('INSERT INTO decisions')) return;
          const [id, scenarioId, , , outcome, rule, , , , operationId] = p as string[];
          stagedDecisions.push({ id, scenarioId, outcome, rule, operationId });
        },
      });
      written.push(...staged);
      decisions.push(...stagedDecisions);
    },
  };
  const store = new HeartbeatStore({} as never, {} as never, {} as never);
  // requestMany (the detector's own failovers) and request (group mates) share one call log.
  const requested: Record<string, unknown>[] = [];
  let opCount = 0;
  const operations = {
    requestMany: jest.fn(async (reqs: Record<string, unknown>[]) => {
      requested.push(...reqs);
      return reqs.map(() => ({ operation: { id: `op-${++opCount}` } }));
    }),
    request: jest.fn(async (req: Record<string, unknown>) => {
      requested.push(req);
      return { id: 'op-1' };
    }),
  };
  // External alerts as AlertsService answers about them (its own logic is tested in alerts/).
  const firing: {
    name: string;
    observer: string;
    nodeId: string;
    scenarioId: string | null;
    startsAt: number;
    receivedAt: number;
    vote: boolean;
  }[] = [];
  const alerts = {
    votesAgainst: (nodeId: string) => {
      const by = new Map<string, string[]>();
      for (const a of firing.filter((x) => x.vote && x.nodeId === nodeId))
        by.set(a.observer, [...(by.get(a.observer) ?? []), a.name]);
      return [...by].map(([observer, names]) => ({ observer, alerts: names }));
    },
    failoverAlert: (scenarioId: string, nodeId: string, names: string[]) =>
      firing.find(
        (a) =>
          a.nodeId === nodeId &&
          (a.scenarioId === null || a.scenarioId === scenarioId) &&
          names.includes(a.name),
      ) ?? null,
    firingSince: (nodeId: string) =>
      Math.min(...firing.filter((a) => a.nodeId === nodeId).map((a) => a.startsAt)),
  };
  const metrics = { verdictChanges: { inc: () => undefined }, checksRun: { inc: () => undefined } };
  const detector = new DetectorService(
    { roles: new Set(), DETECTOR_TICK_MS: 100 } as never,
    dataSource as never,
    store,
    topology,
    operations as never,
    stormBrake as never,
    metrics as never,
    undefined,
    groups as never,
    undefined,
    undefined,
    undefined,
    undefined,
    alerts as never,
  );
  const seqs = new Map<string, number>();
  const heartbeat = (
    from: TopologyNode,
    at: number,
    opts: { checks?: LocalCheckResult[]; views?: [TopologyNode, boolean][]; lag?: number } = {},
  ) => {
    const seq = (seqs.get(from.id) ?? 0) + 1;
    seqs.set(from.id, seq);
    const hb: HeartbeatRequest = {
      nodeId: from.id,
      seq,
      bootId: 'b',
      agentTime: at,
      scenarios: [],
      checks: opts.checks ?? [],
      peerViews: (opts.views ?? []).map(([n, reachable]): PeerView => ({
        nodeId: n.id,
        reachable,
        lastSeenMsAgo: reachable ? 10 : 5000,
      })),
      ...(opts.lag !== undefined && { replicaLagSeconds: opts.lag }),
    };
    store.accept(hb, at);
  };
  const app = (status: LocalCheckResult['status'], at: number): LocalCheckResult => ({
    name: 'app',
    status,
    output: `app ${status}`,
    durationMs: 1,
    at,
  });
  return {
    prod,
    replica,
    stranger,
    scenario,
    detector,
    store,
    operations,
    requested,
    stormBrake,
    mateScenarios,
    written,
    decisions,
    heartbeat,
    app,
    setPgDown: (down: boolean) => (pgDown = down),
    fire: (name: string, nodeId: string, vote: boolean, at: number) =>
      firing.push({
        name,
        observer: 'alertmanager',
        nodeId,
        scenarioId: null,
        startsAt: at,
        receivedAt: at,
        vote,
      }),
    verdict: (n: TopologyNode) => detector.evidenceOf(n.id)?.verdict,
  };
}

describe('DetectorService', () => {
  const t0 = Date.now();

  it('a node that reports its own check critical is failed although its replica still reaches it; manual → one alert', async () => {
    const s = setup('manual');
    for (let i = 0; i < 3; i++) {
      const at = t0 + i * 100;
      s.heartbeat(s.prod, at, {
        checks: [s.app(i === 0 ? 'ok' : 'critical', at)],
        views: [[s.replica, true]],
      });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    const ev = s.detector.evidenceOf(s.prod.id)!;
    expect(ev.verdict).toBe('failed');
    expect(ev.reason).toMatch(/reports its own check\(s\) app critical/);
    expect(ev.observers).toEqual([
      expect.objectContaining({ observer: 'replica', reachable: true, fresh: true }),
    ]);
    await s.detector.tick(t0 + 400);
    await s.detector.flushEvents();
    expect(s.written.filter((e) => e.kind === 'alert')).toHaveLength(1);
    expect(s.requested).toEqual([]);
  });

  it('the same in auto mode requests a failover', async () => {
    const s = setup('auto');
    for (let i = 0; i < 2; i++) {
      const at = t0 + i * 100;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    expect(s.verdict(s.prod)).toBe('failed');
    expect(s.requested).toEqual([
      expect.objectContaining({
        scenarioId: s.scenario.entity.id,
        type: 'failover',
        trigger: 'auto',
        params: expect.objectContaining({ failedNodeId: s.prod.id }),
      }),
    ]);
  });

  it('a self-reported failure stops counting once the heartbeats are lost: then the peers decide', async () => {
    const s = setup();
    for (let i = 0; i < 2; i++) {
      const at = t0 + i * 100;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    expect(s.detector.evidenceOf(s.prod.id)!.reason).toMatch(/reports its own check/);
    // Then silent towards the orchestrator; the replica keeps hearing it. The last app report is
    // stale: held failed by the damper, but no longer failed on its own account.
    let at = t0 + 200;
    for (; at < t0 + 100 + TTL + 500; at += 100) {
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    let ev = s.detector.evidenceOf(s.prod.id)!;
    expect(ev.checks.find((c) => c.name === 'heartbeat')!.state).toBe('failing');
    expect(ev.checks.find((c) => c.name === 'app')!.state).toBe('failing');
    expect(ev).toMatchObject({ verdict: 'failed', view: 'down', reason: 'recovering (hold 500 ms)' });
    // The replica loses it too: failed on the reachability rule.
    s.heartbeat(s.replica, at, { views: [[s.prod, false]] });
    await s.detector.tick(at + 10);
    ev = s.detector.evidenceOf(s.prod.id)!;
    expect(ev.reason).toMatch(/orchestrator and 1 peer\(s\) lost the node/);
  });

  it('heartbeat lost: suspect while the replica reaches it, failed once the replica lost it too', async () => {
    const s = setup();
    s.heartbeat(s.prod, t0);
    s.heartbeat(s.replica, t0, { views: [[s.prod, true]] });
    await s.detector.tick(t0 + 10);
    expect(s.verdict(s.prod)).toBe('healthy');
    s.heartbeat(s.replica, t0 + TTL + 100, { views: [[s.prod, true]] });
    await s.detector.tick(t0 + TTL + 110);
    expect(s.verdict(s.prod)).toBe('suspect');
    s.heartbeat(s.replica, t0 + TTL + 200, { views: [[s.prod, false]] });
    await s.detector.tick(t0 + TTL + 210);
    expect(s.verdict(s.prod)).toBe('failed');
  });

  it('only agents of a shared scenario vote: a stranger saying "reachable" does not veto', async () => {
    const s = setup();
    s.heartbeat(s.prod, t0);
    const later = t0 + TTL + 100;
    s.heartbeat(s.replica, later, { views: [[s.prod, false]] });
    s.heartbeat(s.stranger, later, { views: [[s.prod, true]] });
    await s.detector.tick(later + 10);
    const ev = s.detector.evidenceOf(s.prod.id)!;
    expect(ev.verdict).toBe('failed');
    expect(ev.observers.map((o) => o.observer)).toEqual(['replica']);
  });

  it('a flush with nothing to write does not stop later flushes', async () => {
    const s = setup();
    await s.detector.flushEvents();
    s.heartbeat(s.prod, t0);
    await s.detector.tick(t0 + 10);
    await s.detector.flushEvents();
    expect(s.written.map((e) => e.message)).toEqual([expect.stringMatching(/^prod: unknown → healthy/)]);
  });

  it('verdict changes are queued while PostgreSQL is down and written in order when it is back', async () => {
    const s = setup();
    s.setPgDown(true);
    s.heartbeat(s.prod, t0);
    s.heartbeat(s.replica, t0, { views: [[s.prod, true]] });
    await s.detector.tick(t0 + 10);
    s.heartbeat(s.replica, t0 + TTL + 100, { views: [[s.prod, false]] });
    await s.detector.tick(t0 + TTL + 110);
    expect(s.verdict(s.prod)).toBe('failed');
    await s.detector.flushEvents();
    expect(s.written).toEqual([]);
    s.setPgDown(false);
    await s.detector.flushEvents();
    const prodChanges = s.written.filter((e) => e.nodeId === s.prod.id && e.kind === 'verdict-changed');
    expect(prodChanges.map((e) => e.message.replace(/ \(.*$/, ''))).toEqual([
      'prod: unknown → healthy',
      'prod: healthy → failed',
    ]);
  });

  it('a failed production heard again while its verdict holds (say, failed back to by an operator) is not failed over', async () => {
    const s = setup('auto');
    // Failed while the scenario was not protected (failed over, say): an alert, no request.
    (s.scenario.entity as { state: string }).state = 'failed_over';
    s.heartbeat(s.prod, t0);
    s.heartbeat(s.replica, t0, { views: [[s.prod, true]] });
    await s.detector.tick(t0 + 10);
    s.heartbeat(s.replica, t0 + TTL + 100, { views: [[s.prod, false]] });
    await s.detector.tick(t0 + TTL + 110);
    expect(s.verdict(s.prod)).toBe('failed');
    expect(s.requested).toEqual([]);
    // Back, and production again (the failback), inside the recovery hold: still `failed`, not acted on.
    (s.scenario.entity as { state: string }).state = 'running';
    const back = t0 + TTL + 200;
    s.heartbeat(s.prod, back);
    s.heartbeat(s.replica, back, { views: [[s.prod, true]] });
    await s.detector.tick(back + 10);
    expect(s.detector.evidenceOf(s.prod.id)).toMatchObject({ verdict: 'failed', recovering: true });
    expect(s.requested).toEqual([]);
    // Failed again on the evidence of now (its own check, so its agent can still fence it): failed over.
    let at = back;
    for (let i = 1; i <= 2; i++) {
      at = back + i * 100;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    expect(s.detector.evidenceOf(s.prod.id)).toMatchObject({ verdict: 'failed', recovering: false });
    expect(s.requested).toEqual([
      expect.objectContaining({ scenarioId: s.scenario.entity.id, type: 'failover' }),
    ]);
  });

  it('switch-all-if-any-fails: a failed member fails over its running group mates after one brake check, respecting hold-down', async () => {
    const s = setup('auto', [
      { name: 'billing', state: 'running' },
      { name: 'search', state: 'degraded' },
      { name: 'held', state: 'running', holdUntil: new Date(t0 + 3_600_000) },
      { name: 'moved', state: 'failed_over' },
    ]);
    for (let i = 0; i < 2; i++) {
      const at = t0 + i * 100;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    const [billing, search] = s.mateScenarios.map((m) => m.entity.id);
    expect(s.requested).toEqual([
      expect.objectContaining({ scenarioId: s.scenario.entity.id, groupId: 'group-1', trigger: 'auto' }),
      expect.objectContaining({
        scenarioId: billing,
        groupId: 'group-1',
        type: 'failover',
        trigger: 'auto',
        reason: expect.stringMatching(/group site member orders failed/),
        onlyFrom: ['running', 'degraded'],
      }),
      expect.objectContaining({ scenarioId: search, groupId: 'group-1' }),
    ]);
    expect(s.stormBrake.allowIncidents).toHaveBeenCalledTimes(1);
    // One unit for the group action: the failed node's incident and one per production node of a
    // mate it moves (the mate in hold-down moves nothing and costs nothing), granted whole or not at all.
    const since = s.detector.evidenceOf(s.prod.id)!.since;
    const mateKey = (id: string) =>
      `${s.mateScenarios.find((m) => m.entity.id === id)!.entity.activeNodeId}@${since}`;
    expect(s.stormBrake.allowIncidents).toHaveBeenCalledWith([
      { key: `${s.prod.id}@${since}`, scenarioId: s.scenario.entity.id, unit: 'group:group-1' },
      { key: mateKey(billing), scenarioId: billing, unit: 'group:group-1' },
      { key: mateKey(search), scenarioId: search, unit: 'group:group-1' },
    ]);
    expect(s.requested.map((r) => r.params)).toEqual(
      s.requested.map(() => expect.objectContaining({ failedNodeId: s.prod.id, detectedAt: since })),
    );
    // Each mate's move is counted against its own production node.
    expect(s.requested.slice(1).map((r) => (r.params as Record<string, unknown>).stormKey)).toEqual([
      mateKey(billing),
      mateKey(search),
    ]);
    await s.detector.flushEvents();
    const suppressed = s.written.filter((e) => e.kind === 'failover-suppressed');
    expect(suppressed).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/held is in its hold-down/) }),
    ]);
    expect(s.written.filter((e) => e.kind === 'failover-requested')).toHaveLength(3);
  });
  it('policy.alerts.failover: a named alert fails over a production the orchestrator reaches; another alert does not', async () => {
    const s = setup('auto', [], { policy: { alerts: { failover: true, names: ['ServiceDown'] } } });
    s.fire('DiskSlow', s.prod.id, true, t0);
    for (let at = t0; at < t0 + 500; at += 100) {
      s.heartbeat(s.prod, at, { views: [[s.replica, true]] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    expect(s.requested).toEqual([]);
    s.fire('ServiceDown', s.prod.id, false, t0 + 450);
    s.heartbeat(s.prod, t0 + 500);
    s.heartbeat(s.replica, t0 + 500, { views: [[s.prod, true]] });
    await s.detector.tick(t0 + 510);
    expect(s.requested).toEqual([
      expect.objectContaining({
        scenarioId: s.scenario.entity.id,
        trigger: 'auto',
        reason: expect.stringMatching(
          /alert ServiceDown from alertmanager firing \(policy\.alerts\.failover\)/,
        ),
        // one incident per node: it started with the node's earliest firing alert
        params: expect.objectContaining({ detectedAt: t0 }),
      }),
    ]);
  });

  it('partition: the orchestrator lost production, the replica still reaches it, a named critical alert fires → no failover', async () => {
    const s = setup('auto', [], { policy: { alerts: { failover: true, names: ['ServiceDown'] } } });
    s.heartbeat(s.prod, t0);
    s.heartbeat(s.replica, t0, { views: [[s.prod, true]] });
    await s.detector.tick(t0 + 10);
    s.fire('ServiceDown', s.prod.id, true, t0 + 100);
    for (let at = t0 + 100; at < t0 + TTL + 3000; at += 100) {
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    expect(s.verdict(s.prod)).toBe('suspect');
    expect(s.detector.evidenceOf(s.prod.id)!.reason).toMatch(/1 peer\(s\) still reach it/);
    expect(s.requested).toEqual([]);
  });

  it('an alert vote completes a quorum of 2 with the replica; a non-critical alert is no vote', async () => {
    const s = setup('auto', [], { policy: { peerQuorum: 2, requireWatchdog: false } });
    s.heartbeat(s.prod, t0);
    s.heartbeat(s.replica, t0, { views: [[s.prod, true]] });
    await s.detector.tick(t0 + 10);
    s.fire('NodeHighLoad', s.prod.id, false, t0 + 100);
    let at = t0 + 100;
    for (; at < t0 + TTL + 1000; at += 100) {
      s.heartbeat(s.replica, at, { views: [[s.prod, false]] });
      await s.detector.tick(at + 10);
    }
    expect(s.verdict(s.prod)).toBe('suspect');
    expect(s.detector.evidenceOf(s.prod.id)!.reason).toMatch(/1\/2 peer confirmations/);
    expect(s.requested).toEqual([]);
    s.fire('PostgresDown', s.prod.id, true, at);
    s.heartbeat(s.replica, at, { views: [[s.prod, false]] });
    await s.detector.tick(at + 10);
    expect(s.verdict(s.prod)).toBe('failed');
    expect(s.detector.evidenceOf(s.prod.id)!.observers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          observer: 'alert:alertmanager (PostgresDown)',
          reachable: false,
          fresh: true,
        }),
      ]),
    );
    expect(s.requested).toEqual([
      expect.objectContaining({ scenarioId: s.scenario.entity.id, type: 'failover' }),
    ]);
  });

  it('no quorum: production lost by the orchestrator but reached by its replica → one no-quorum decision, no failover', async () => {
    const s = setup('auto');
    s.heartbeat(s.prod, t0);
    s.heartbeat(s.replica, t0, { views: [[s.prod, true]] });
    await s.detector.tick(t0 + 10);
    // Not at once (a real failure passes through this state until the peers' views arrive)…
    for (let at = t0 + TTL + 100; at < t0 + TTL + 1000; at += 100) {
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    await s.detector.flushEvents();
    expect(s.decisions.filter((d) => d.scenarioId === s.scenario.entity.id)).toEqual([]);
    // …but once it lasted a heartbeat TTL, and then only once.
    for (let at = t0 + TTL + 1000; at < t0 + TTL + 3000; at += 100) {
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    expect(s.verdict(s.prod)).toBe('suspect');
    await s.detector.flushEvents();
    expect(s.requested).toEqual([]);
    // (The stranger's scenario has no replica to confirm its silence: a no-quorum decision of its own.)
    expect(s.decisions.filter((d) => d.scenarioId === s.scenario.entity.id)).toEqual([
      expect.objectContaining({ outcome: 'no-action', rule: 'no-quorum' }),
    ]);
    expect(s.written.filter((e) => e.kind === 'failover-withheld' && e.nodeId === s.prod.id)).toHaveLength(1);
  });

  it('hold-down: one suppressed decision however many ticks; once the hold ends, a failover decision that names its operation', async () => {
    const s = setup('auto');
    const entity = s.scenario.entity as { holdUntil: Date | null };
    entity.holdUntil = new Date(t0 + 1000);
    for (let i = 0; i < 8; i++) {
      const at = t0 + i * 100;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    await s.detector.flushEvents();
    expect(s.requested).toEqual([]);
    const own = () => s.decisions.filter((d) => d.scenarioId === s.scenario.entity.id);
    expect(own()).toEqual([expect.objectContaining({ outcome: 'suppressed', rule: 'hold-down' })]);
    entity.holdUntil = null;
    await s.detector.tick(t0 + 900);
    await s.detector.tick(t0 + 1000);
    await s.detector.flushEvents();
    expect(s.requested).toHaveLength(1);
    const failover = own()[1];
    expect(failover).toMatchObject({ outcome: 'failover', rule: 'failover', operationId: 'op-1' });
    expect(s.requested[0].params).toMatchObject({ decisionId: failover.id });
    const requested = s.written.find((e) => e.kind === 'failover-requested');
    expect(requested?.details).toMatchObject({ decision: { id: failover.id, outcome: 'failover' } });
  });

  it('switch-all with switchManualMembers false: a manual-mode mate stays, with a manual-mode decision, and costs the brake nothing', async () => {
    const s = setup(
      'auto',
      [
        { name: 'billing', state: 'running', failoverMode: 'manual' },
        { name: 'search', state: 'running' },
      ],
      { switchManualMembers: false },
    );
    for (let i = 0; i < 2; i++) {
      const at = t0 + i * 100;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    const [billing, search] = s.mateScenarios.map((m) => m.entity.id);
    expect(s.requested.map((r) => r.scenarioId)).toEqual([s.scenario.entity.id, search]);
    const asked = s.stormBrake.allowIncidents.mock.calls[0][0] as { scenarioId: string }[];
    expect(asked.map((c) => c.scenarioId)).toEqual([s.scenario.entity.id, search]);
    await s.detector.flushEvents();
    expect(s.decisions.filter((d) => d.scenarioId === billing)).toEqual([
      expect.objectContaining({ outcome: 'suppressed', rule: 'manual-mode' }),
    ]);
    expect(s.written.filter((e) => e.kind === 'failover-suppressed')).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(
          /billing is in manual mode and group site does not switch manual members/,
        ),
      }),
    ]);
  });

  it('a failed scenario in two switch-all groups: both groups are one brake unit, each mate charged once; refused, one decision and nothing moves', async () => {
    const s = setup(
      'auto',
      [
        { name: 'billing', state: 'running' },
        { name: 'search', state: 'running' },
      ],
      { twoGroups: true },
    );
    s.stormBrake.allowIncidents.mockImplementation(async () => new Set<string>());
    for (let i = 0; i < 2; i++) {
      const at = t0 + i * 100;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    const [billing, search] = s.mateScenarios.map((m) => m.entity.id);
    const asked = s.stormBrake.allowIncidents.mock.calls[0][0] as { scenarioId: string; unit?: string }[];
    expect(asked.map((c) => [c.scenarioId, c.unit])).toEqual([
      [s.scenario.entity.id, 'group:group-1'],
      [billing, 'group:group-1'],
      [search, 'group:group-1'],
    ]);
    expect(s.requested).toEqual([]);
    await s.detector.flushEvents();
    expect(s.decisions).toEqual([expect.objectContaining({ outcome: 'suppressed', rule: 'storm-brake' })]);
    expect(s.written.filter((e) => e.kind === 'failover-suppressed')).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/moving group site, site-b \(switch all if any fails\)/),
      }),
    ]);
  });

  it('switch-all by default moves a manual-mode mate too (the group moves together)', async () => {
    const s = setup('auto', [{ name: 'billing', state: 'running', failoverMode: 'manual' }]);
    for (let i = 0; i < 2; i++) {
      const at = t0 + i * 100;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    expect(s.requested.map((r) => r.scenarioId)).toEqual([
      s.scenario.entity.id,
      s.mateScenarios[0].entity.id,
    ]);
  });

  it('storm brake: the suppressed decision is recorded once', async () => {
    const s = setup('auto');
    s.stormBrake.allowIncidents.mockImplementation(async () => new Set<string>());
    for (let i = 0; i < 2; i++) {
      const at = t0 + i * 100;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    // The detector asks again after its 5 s retry pause: still braked, still one record.
    for (const at of [t0 + 6000, t0 + 12_000]) {
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    await s.detector.flushEvents();
    expect(s.stormBrake.allowIncidents).toHaveBeenCalledTimes(3);
    expect(s.decisions.filter((d) => d.scenarioId === s.scenario.entity.id)).toEqual([
      expect.objectContaining({ outcome: 'suppressed', rule: 'storm-brake' }),
    ]);
  });
  it('an incident whose failovers keep failing is retried with backoff (5 s, 10 s, 20 s …), not every 5 s', async () => {
    const s = setup('auto');
    // The operations "fail": the scenario stays running with its failed production.
    for (let i = 0; i <= 40; i++) {
      const at = t0 + i * 1000;
      s.heartbeat(s.prod, at, { checks: [s.app('critical', at)] });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    }
    // Failed from the second tick (threshold 2): requests then, +5 s, +10 s, +20 s.
    expect(s.requested).toHaveLength(4);
    await s.detector.flushEvents();
    const own = s.decisions.filter((d) => d.scenarioId === s.scenario.entity.id);
    expect(own.map((d) => d.rule)).toEqual(['failover', 'failover', 'failover', 'failover']);
  });
  it('automatic failback: in its window, production healthy and resynced → one failback; never while the storm brake is engaged', async () => {
    const s = setup('auto');
    const e = s.scenario.entity as unknown as Record<string, unknown>;
    Object.assign(e, {
      state: 'failed_over',
      activeNodeId: s.replica.id,
      policy: {
        ...(e.policy as object),
        failback: {
          mode: 'automatic',
          window: { cron: '* * * * * *', durationMinutes: 60 },
          maxLagSeconds: 0,
        },
      },
    });
    s.stormBrake.isEngaged.mockImplementation(async () => true);
    const beat = async (at: number, lag: number) => {
      s.heartbeat(s.prod, at, { views: [[s.replica, true]], lag });
      s.heartbeat(s.replica, at, { views: [[s.prod, true]] });
      await s.detector.tick(at + 10);
    };
    // Healthy but 5 s behind: withheld (not resynced), once.
    for (let i = 0; i < 5; i++) await beat(t0 + i * 100, 5);
    // Resynced, but the brake is engaged: withheld again, once, and nothing requested.
    for (let i = 5; i < 10; i++) await beat(t0 + i * 100, 0);
    await s.detector.flushEvents();
    expect(s.requested).toEqual([]);
    const own = () => s.decisions.filter((d) => d.scenarioId === s.scenario.entity.id);
    expect(own().map((d) => d.rule)).toEqual(['not-resynced', 'storm-brake']);
    // Brake released: after the retry pause, the failback.
    s.stormBrake.isEngaged.mockImplementation(async () => false);
    for (let i = 10; i < 80; i++) await beat(t0 + i * 100, 0);
    await s.detector.flushEvents();
    expect(s.requested).toEqual([
      expect.objectContaining({ type: 'failback', trigger: 'auto', scenarioId: s.scenario.entity.id }),
    ]);
    expect(own().map((d) => d.rule)).toEqual(['not-resynced', 'storm-brake', 'failback']);
  });
});
