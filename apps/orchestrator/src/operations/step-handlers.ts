/**
 * What each step does. Every handler is idempotent: it checks its own effect first (epoch already
 * bumped, DNS already pointing at the target) and agent actions carry the step id, which the agent
 * uses to answer a replay with the stored result instead of running the action twice.
 */
import { Injectable, Optional } from '@nestjs/common';
import { AgentAction } from '@ha/contracts';
import { DataSource, EntityManager, In } from 'typeorm';
import { KeyedBatcher, TickLoader } from '../common/coalesce';
import { AuditService } from '../audit/audit.service';
import {
  DomainError,
  FencingBlockedError,
  FencingFailedError,
  InvalidStateError,
  PreCheckFailedError,
  PromoteFailedError,
  StaleEpochError,
  TransientError,
} from '../common/errors';
import { createLogger } from '../common/logger';
import { EventEntity } from '../detection/event.entity';
import { NodeStatusEntity } from '../detection/node-status.entity';
import { DnsRecordWrite } from '../dns/dns-provider.interface';
import { DnsService } from '../dns/dns.service';
import { queryRecord } from '../dns/embedded/dns-query';
import {
  PeerObservation,
  readLastContact,
  readPeerViews,
  readWatchdogArmed,
  wantPeerViews,
} from '../heartbeats/heartbeat.store';
import { MaintenanceService } from '../maintenance/maintenance.service';
import { NodeEntity } from '../nodes/node.entity';
import { NotificationsService } from '../notify/notifications.service';
import { RedisService } from '../redis/redis.service';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import {
  AgentActionRequest,
  AgentClient,
  AgentEpochUnconfirmedError,
  AgentRefusedError,
  AgentUnreachableError,
  scenarioRoleFromStatus,
} from './agent.client';
import { OperationEntity, OperationStepEntity } from './operation.entity';
import { MOVES_USERS } from './operation-plans';
import { probeClientPath } from './client-probe';
import {
  ClientsIo,
  ClientsPlan,
  clientsPlan,
  RESOLVER_QUERY_TIMEOUT_MS,
  watchClients,
  Warning,
} from './clients-moved';
import { CandidateFacts, chooseTarget, TargetPolicy } from './target-choice';

const log = createLogger('StepHandlers');

export interface StepContext {
  op: OperationEntity;
  step: OperationStepEntity;
  scenario: ScenarioEntity;
  attempt: number;
  /** Mark the step done, running `mutate` (the state change it causes) in the same transaction. */
  finish(output: Record<string, unknown>, mutate?: (m: EntityManager) => Promise<void>): Promise<void>;
}

type Handler = (ctx: StepContext) => Promise<Record<string, unknown> | void>;

/**
 * Commits "step done" for several operations in one transaction, with `mutate` (the state change
 * of all of them); `mutate` returns the indexes it refused (they are not marked done).
 */
export type FinishMany = (
  items: { ctx: StepContext; output: Record<string, unknown> }[],
  mutate: (m: EntityManager) => Promise<Set<number>>,
) => Promise<void>;

/** A step done for many operations at once: one settled result per context, in order. */
type ManyHandler = (ctxs: StepContext[], finishMany: FinishMany) => Promise<PromiseSettledResult<unknown>[]>;

const FINAL_STATE: Record<string, string> = {
  failover: 'failed_over',
  switchover: 'failed_over',
  failback: 'running',
  start: 'running',
  stop: 'stopped',
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** verify-clients of a scenario without `policy.verifyClients`: nothing to watch. */
const CLIENTS_NOT_CONFIGURED = { clientsMoved: null, verifyClients: 'not configured' };

@Injectable()
export class StepHandlers {
  private readonly handlers: Record<string, Handler> = {
    'lock-epoch': (c) => this.lockEpoch(c),
    'pre-checks': (c) => this.preChecks(c),
    fence: (c) => this.fence(c),
    'fence-others': (c) => this.fenceOthers(c),
    'demote-active': (c) => this.demoteActive(c),
    resync: (c) => this.resync(c),
    promote: (c) => this.promote(c),
    'redirect-dns': (c) => this.redirectDns(c),
    'verify-dns': (c) => this.verifyDns(c),
    'verify-clients': (c) => this.verifyClients(c),
    'post-checks': (c) => this.postChecks(c),
    'start-checks': (c) => this.startChecks(c),
    notify: (c) => this.notify(c),
    audit: (c) => this.complete(c),
    'ar-suspend': (c) => this.arSuspend(c),
    'ar-start': (c) => this.arStart(c),
    'ar-check': (c) => this.arCheck(c),
    'ar-snapshot': (c) => this.arSnapshot(c),
    'ar-rewind': (c) => this.arRewind(c),
    'ar-resume': (c) => this.arResume(c),
  };

  /** Node look-ups of concurrent handlers (a batch step) go out as one query. */
  private readonly nodeLoader = new TickLoader<NodeEntity>(async (ids) => {
    const nodes = await this.dataSource.getRepository(NodeEntity).find({ where: { id: In(ids) } });
    return new Map(nodes.map((n) => [n.id, n]));
  });
  /** The nodes whose verdict is `failed`, read once for all handlers asking at the same time. */
  private readonly failedNodes = new KeyedBatcher<'all', null, Set<string>>(async (_k, calls) => {
    const statuses = await this.dataSource
      .getRepository(NodeStatusEntity)
      .find({ select: ['nodeId', 'verdict'] });
    const failed = new Set(statuses.filter((st) => st.verdict === 'failed').map((st) => st.nodeId));
    return calls.map(() => failed);
  });

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentClient,
    private readonly dns: DnsService,
    private readonly redis: RedisService,
    private readonly audit: AuditService,
    private readonly notifications: NotificationsService,
    @Optional() private readonly maintenance?: MaintenanceService,
  ) {}

  /** Nodes in an active maintenance window (never a promotion target), read once for concurrent handlers. */
  private readonly inMaintenance = new KeyedBatcher<'all', null, Set<string>>(async (_k, calls) => {
    const nodes = (await this.maintenance?.nodesInMaintenance()) ?? new Set<string>();
    return calls.map(() => nodes);
  });

  /** Steps with a many-at-once form (batch jobs): a few statements instead of a few per operation. */
  private readonly manyHandlers: Record<string, ManyHandler> = {
    'lock-epoch': (c, f) => this.lockEpochMany(c, f),
    'redirect-dns': (c, f) => this.redirectDnsMany(c, f),
    'verify-dns': (c, f) => this.verifyDnsMany(c, f),
    'verify-clients': (c, f) => this.verifyClientsMany(c, f),
  };

  hasMany(name: string): boolean {
    return name in this.manyHandlers;
  }

  runMany(
    name: string,
    ctxs: StepContext[],
    finishMany: FinishMany,
  ): Promise<PromiseSettledResult<unknown>[]> {
    const h = this.manyHandlers[name];
    if (!h) throw new InvalidStateError(`step ${name} has no many-at-once form`);
    return h(ctxs, finishMany);
  }

  run(name: string, ctx: StepContext): Promise<Record<string, unknown> | void> {
    const h = this.handlers[name];
    if (!h) throw new InvalidStateError(`unknown step ${name}`);
    return h(ctx);
  }

  private request(ctx: StepContext, suffix = ''): AgentActionRequest {
    return {
      operationId: ctx.op.id,
      stepId: `${ctx.step.id}${suffix}`,
      scenarioId: ctx.scenario.id,
      epoch: ctx.op.epoch ?? ctx.scenario.epoch,
    };
  }

  private target(ctx: StepContext): string {
    const t = ctx.op.params.targetNodeId;
    if (typeof t !== 'string')
      throw new InvalidStateError('operation has no target node (lock-epoch not done)');
    return t;
  }

  private oldActive(ctx: StepContext): string {
    return String(ctx.op.params.oldActiveNodeId ?? ctx.op.params.previousActiveNodeId);
  }

  private async node(id: string): Promise<NodeEntity> {
    const n = await this.nodeLoader.load(id);
    if (!n) throw new InvalidStateError(`node ${id} no longer exists`);
    return n;
  }

  /**
   * The node this operation moves users to: failback → production; otherwise the requested node or
   * the best eligible candidate under the promotion policy (target-choice.ts). Nodes in maintenance
   * never; lag, labels and site rules unless forced.
   */
  async chooseTarget(
    ctx: Pick<StepContext, 'op' | 'scenario'>,
  ): Promise<{ target: string; oldActive: string; why: string }> {
    const { op, scenario } = ctx;
    const replicas = [...(scenario.replicas ?? [])]
      .sort((a, b) => a.position - b.position)
      .map((r) => r.nodeId);
    const oldActive = scenario.activeNodeId;
    if (op.type === 'failback' && oldActive === scenario.productionNodeId)
      throw new InvalidStateError('production is already active');
    const requested =
      op.type === 'failback' ? scenario.productionNodeId : (op.params.targetNodeId as string | undefined);
    // Active-server recovery may keep the current active node (and fence the others).
    const candidates = [scenario.productionNodeId, ...replicas].filter(
      (id) => op.type === 'active-server-recovery' || id !== oldActive,
    );
    const choice = chooseTarget(
      await this.candidateFacts(candidates, scenario.policy, op.type === 'active-server-recovery'),
      scenario.policy,
      (await this.node(oldActive).catch(() => null))?.labels?.site,
      // Only an operator overrides the policy (an automatic failover's `force` is about fencing); a
      // failback goes to production by definition. Maintenance is never overridden.
      { force: policyOverridden(op) || op.type === 'failback', requested },
    );
    if (!choice.target)
      throw new PreCheckFailedError(choice.summary, {
        noEligibleTarget: true,
        candidates: choice.ranked.map((v) => ({ nodeId: v.nodeId, name: v.name, reasons: v.reasons })),
      });
    const skipped = choice.ranked.filter((v) => !v.eligible).map((v) => `${v.name}: ${v.reasons.join('; ')}`);
    const why = `${choice.summary}${skipped.length ? `; not eligible: ${skipped.join(' | ')}` : ''}`;
    return { target: choice.target.nodeId, oldActive, why };
  }

  /**
   * What the promotion policy judges each candidate on: labels, verdict, maintenance and, when the
   * policy bounds it, the replication lag its agent reports now.
   */
  private async candidateFacts(
    ids: string[],
    policy: TargetPolicy,
    ignoreMaintenance = false,
  ): Promise<CandidateFacts[]> {
    const [failed, maintenance, nodes] = await Promise.all([
      this.failedNodes.call('all', null),
      ignoreMaintenance ? new Set<string>() : this.inMaintenance.call('all', null),
      Promise.all(ids.map((id) => this.node(id))),
    ]);
    return Promise.all(
      nodes.map(async (n): Promise<CandidateFacts> => {
        const facts: CandidateFacts = {
          nodeId: n.id,
          name: n.name,
          labels: n.labels ?? {},
          failed: failed.has(n.id),
          inMaintenance: maintenance.has(n.id),
          lagSeconds: null,
        };
        if (policy.maxLagSeconds === null || facts.failed || facts.inMaintenance) return facts;
        try {
          const st = await this.agents.status(n.id);
          facts.lagSeconds = typeof st.replicaLagSeconds === 'number' ? st.replicaLagSeconds : null;
        } catch (err) {
          facts.unreachable = (err as Error).message;
        }
        return facts;
      }),
    );
  }

  /** Choose the target and bump the scenario epoch, once per operation. */
  private async lockEpoch(ctx: StepContext) {
    const { op, scenario } = ctx;
    if (op.epoch !== null && op.params.targetNodeId) {
      return { epoch: op.epoch, targetNodeId: op.params.targetNodeId, resumed: true };
    }
    const { target, oldActive, why } = await this.chooseTarget(ctx);
    let epoch = 0;
    await ctx.finish({ targetNodeId: target, oldActiveNodeId: oldActive, target: why }, async (m) => {
      // Claim the bump on the operation row first: if a second worker runs this step at the same
      // time (a lock lost to a long pause), it blocks here, then finds the epoch set and bumps nothing.
      // TypeORM returns [rows, count] for an UPDATE … RETURNING on PostgreSQL.
      const rowsOf = (res: unknown) =>
        (Array.isArray((res as unknown[])[0]) ? (res as unknown[][])[0] : res) as { epoch: number }[];
      const claimed = rowsOf(
        await m.query(
          `UPDATE operations SET epoch = (SELECT epoch + 1 FROM scenarios WHERE id = $2), params = $3::jsonb
            WHERE id = $1 AND epoch IS NULL RETURNING epoch`,
          [
            op.id,
            scenario.id,
            JSON.stringify({ ...op.params, targetNodeId: target, oldActiveNodeId: oldActive }),
          ],
        ),
      );
      if (claimed.length === 0) {
        const current = await m.getRepository(OperationEntity).findOneOrFail({ where: { id: op.id } });
        epoch = current.epoch!;
        return;
      }
      epoch = Number(claimed[0].epoch);
      await m.query('UPDATE scenarios SET epoch = $2, "updatedAt" = now() WHERE id = $1', [
        scenario.id,
        epoch,
      ]);
    });
    ctx.op.epoch = epoch;
    ctx.op.params = { ...ctx.op.params, targetNodeId: target, oldActiveNodeId: oldActive };
    log.info({ epoch, target, oldActive }, 'epoch bumped');
    return { epoch, targetNodeId: target, oldActiveNodeId: oldActive };
  }

  /**
   * lock-epoch for a batch: the same claim (operation row first, then the scenario's epoch) for
   * every operation in one statement; an operation whose epoch is already set keeps it.
   */
  private async lockEpochMany(
    ctxs: StepContext[],
    finishMany: FinishMany,
  ): Promise<PromiseSettledResult<unknown>[]> {
    const out: PromiseSettledResult<unknown>[] = new Array(ctxs.length);
    const todo: { i: number; ctx: StepContext; target: string; oldActive: string; why: string }[] = [];
    await Promise.all(
      ctxs.map(async (ctx, i) => {
        try {
          if (ctx.op.epoch !== null && ctx.op.params.targetNodeId) {
            // Resumed: done already except for the step's own commit.
            todo.push({
              i,
              ctx,
              target: String(ctx.op.params.targetNodeId),
              oldActive: this.oldActive(ctx),
              why: 'chosen before a restart',
            });
            return;
          }
          const { target, oldActive, why } = await this.chooseTarget(ctx);
          todo.push({ i, ctx, target, oldActive, why });
        } catch (reason) {
          out[i] = { status: 'rejected', reason };
        }
      }),
    );
    if (todo.length === 0) return out;
    const epochs = new Map<string, number>();
    // A failing shared statement (PostgreSQL) throws: the batch job is retried as a whole.
    await finishMany(
      todo.map((t) => ({
        ctx: t.ctx,
        output: { targetNodeId: t.target, oldActiveNodeId: t.oldActive, target: t.why },
      })),
      async (m) => {
        const params = todo.map((t) =>
          JSON.stringify({ ...t.ctx.op.params, targetNodeId: t.target, oldActiveNodeId: t.oldActive }),
        );
        // Operation rows first (locked in id order by the UPDATE), then their scenarios.
        const rows: { id: string; epoch: number }[] = await m.query(
          `WITH input AS (
               SELECT unnest($1::uuid[]) AS op, unnest($2::uuid[]) AS sc, unnest($3::text[]) AS params
             ), claimed AS (
               UPDATE operations o SET epoch = s.epoch + 1, params = i.params::jsonb
                 FROM input i JOIN scenarios s ON s.id = i.sc
                WHERE o.id = i.op AND o.epoch IS NULL
               RETURNING o.id, o.epoch, i.sc
             ), bumped AS (
               UPDATE scenarios s SET epoch = c.epoch, "updatedAt" = now() FROM claimed c WHERE s.id = c.sc
               RETURNING s.id
             )
             SELECT id, epoch FROM claimed
             UNION ALL
             SELECT o.id, o.epoch FROM operations o JOIN input i ON i.op = o.id
              WHERE o.id NOT IN (SELECT id FROM claimed)`,
          [todo.map((t) => t.ctx.op.id), todo.map((t) => t.ctx.scenario.id), params],
        );
        // A concurrent run of this step that claimed first is invisible to this statement's
        // snapshot (null here): that operation goes on alone and finds its epoch then.
        for (const r of rows) if (r.epoch !== null) epochs.set(r.id, Number(r.epoch));
        // …read them again: a new statement sees the epoch that run committed (this one waited
        // for its row lock), and these operations are simply resumed.
        const missing = todo.map((t) => t.ctx.op.id).filter((id) => !epochs.has(id));
        if (missing.length > 0) {
          const again: { id: string; epoch: number | null }[] = await m.query(
            'SELECT id, epoch FROM operations WHERE id = ANY($1)',
            [missing],
          );
          for (const r of again) if (r.epoch !== null) epochs.set(r.id, Number(r.epoch));
        }
        return new Set<number>();
      },
    );
    for (const t of todo) {
      const epoch = epochs.get(t.ctx.op.id);
      if (epoch === undefined || !Number.isInteger(epoch) || epoch < 1) {
        out[t.i] = {
          status: 'rejected',
          reason: new TransientError(
            `operation ${t.ctx.op.id}: its epoch was claimed concurrently; retrying`,
          ),
        };
        continue;
      }
      t.ctx.op.epoch = epoch;
      t.ctx.op.params = { ...t.ctx.op.params, targetNodeId: t.target, oldActiveNodeId: t.oldActive };
      out[t.i] = {
        status: 'fulfilled',
        value: { epoch, targetNodeId: t.target, oldActiveNodeId: t.oldActive },
      };
    }
    log.info({ operations: todo.length }, 'epochs bumped');
    return out;
  }

  private async preChecks(ctx: StepContext) {
    const target = this.target(ctx);
    const targetNode = await this.node(target);
    const status = await this.agents.status(target).catch((err) => {
      if (err instanceof AgentUnreachableError) throw err; // retry: the replica may be restarting
      throw new PreCheckFailedError(
        `target ${targetNode.name} refused the status request: ${(err as Error).message}`,
      );
    });
    const lag = typeof status.replicaLagSeconds === 'number' ? status.replicaLagSeconds : null;
    const max = ctx.scenario.policy.maxLagSeconds;
    if (
      max !== null &&
      lag !== null &&
      lag > max &&
      !policyOverridden(ctx.op) &&
      ctx.op.type !== 'failback'
    ) {
      throw new PreCheckFailedError(
        `replica ${targetNode.name} lags ${lag}s (max ${max}s); use force to override`,
      );
    }
    const checked: Record<string, unknown> = { target: targetNode.name, replicaLagSeconds: lag };
    if (ctx.op.type === 'switchover') {
      const old = await this.node(this.oldActive(ctx));
      await this.agents.status(old.id).catch((err) => {
        throw new PreCheckFailedError(
          `switchover needs both nodes healthy; ${old.name}: ${(err as Error).message}. Use failover instead.`,
        );
      });
      checked.active = old.name;
    }
    return checked;
  }

  /** Fence the old active node: agent demote, else a fencing hook, else wait out its lease. */
  private fence(ctx: StepContext) {
    return this.fenceNode(ctx, this.oldActive(ctx), '');
  }

  /**
   * Active-server recovery (split state: several nodes act as production): fence every node of the
   * scenario except the chosen one, each exactly like the old production in a failover.
   */
  private async fenceOthers(ctx: StepContext) {
    const target = this.target(ctx);
    const ids = [ctx.scenario.productionNodeId, ...(ctx.scenario.replicas ?? []).map((r) => r.nodeId)];
    const fenced: Record<string, unknown>[] = [];
    for (const id of ids.filter((x) => x !== target)) fenced.push(await this.fenceNode(ctx, id, `:${id}`));
    return { fenced };
  }

  /** Fence one node: agent demote, else the fencing hook, else wait out its lease. */
  private async fenceNode(ctx: StepContext, oldId: string, stepSuffix: string) {
    const old = await this.node(oldId);
    const mayForce = ctx.op.trigger === 'auto' || ctx.op.params.force === true;
    const policy = ctx.scenario.policy;
    try {
      const res = await this.agents.action(
        oldId,
        'demote',
        this.request(ctx, stepSuffix),
        policy.fenceTimeoutMs ?? 5000,
      );
      if (res.status === 'ok') return { fencedBy: 'agent', node: old.name, replayed: res.replayed };
      if (!mayForce)
        throw new FencingFailedError(`demote of ${old.name} failed: ${res.output.slice(0, 300)}`);
      log.warn({ node: old.name }, 'demote action failed; fencing by other means');
    } catch (err) {
      if (err instanceof StaleEpochError || err instanceof FencingFailedError) throw err;
      // An old production that cannot reach any orchestrator cannot confirm our epoch: for fencing
      // that is the same as not answering (hook, else lease), not something to retry forever.
      const refused =
        err instanceof AgentUnreachableError ||
        err instanceof AgentRefusedError ||
        err instanceof AgentEpochUnconfirmedError;
      if (!refused) throw err;
      if (!mayForce) {
        throw new FencingFailedError(
          `cannot fence ${old.name}: ${(err as Error).message}. Retry with force=true to fence through the hook or lease expiry.`,
        );
      }
    }
    if (policy.fencingHook) {
      try {
        const res = await this.agents.action(
          policy.fencingHook.nodeId,
          'fence',
          this.request(ctx, `${stepSuffix}:hook`),
          10000,
        );
        if (res.status === 'ok')
          return { fencedBy: 'hook', node: old.name, hookNodeId: policy.fencingHook.nodeId };
        log.warn({ output: res.output.slice(0, 200) }, 'fencing hook failed; waiting for the lease');
      } catch (err) {
        if (err instanceof StaleEpochError) throw err;
        log.warn({ err: (err as Error).message }, 'fencing hook unreachable; waiting for the lease');
      }
    }
    // Lease: the old active demotes itself after leaseMs cut off from everyone, and its watchdog
    // kills the service then even if the agent is frozen. Without an armed watchdog the expiry
    // proves nothing about a paused agent: stop, unless policy trusts the lease or an operator
    // confirmed the node is down.
    const armed = await readWatchdogArmed(this.redis, oldId);
    const confirmed = ctx.op.params.confirmFenced === true;
    if (!armed && policy.requireWatchdog !== false && !confirmed) {
      throw new FencingBlockedError(
        `cannot fence ${old.name}: its agent does not answer, ${policy.fencingHook ? 'the fencing hook failed' : 'no fencing hook is configured'}, ` +
          'and its agent reported no armed watchdog, so lease expiry would not prove its service stopped (a frozen agent cannot demote itself). ' +
          'Not promoting. Power it off or isolate it, then fail over with force and confirmFenced.',
        { node: old.name, watchdogArmed: false },
      );
    }
    const started = Date.now();
    const limit = 3 * policy.leaseMs + 10_000;
    let demoteTriedAt = started;
    // The old production also renews its lease through its peers (the other nodes of the scenario)
    // and their views reach us a heartbeat late: once its lease looks expired, each peer is asked
    // how it hears it now, and promotion waits for every one of them (see peerViewsAfterExpiry).
    const peers = [
      ctx.scenario.productionNodeId,
      ...(ctx.scenario.replicas ?? []).map((r) => r.nodeId),
    ].filter((id) => id !== oldId);
    let heardByPeers = Number.NEGATIVE_INFINITY;
    let expiredSince: number | null = null;
    let expiredAtLast = Number.NaN;
    let peerCheck: Record<string, unknown> | undefined;
    for (;;) {
      const last = Math.max((await readLastContact(this.redis, oldId)) ?? started, heardByPeers);
      // Heard from again while we wait (it was paused, or cut off and back): it is reachable,
      // so fence it the ordinary way, by its agent, at this operation's epoch.
      if (last > started && Date.now() - demoteTriedAt >= 1000) {
        demoteTriedAt = Date.now();
        const res = await this.agents
          .action(oldId, 'demote', this.request(ctx, stepSuffix), policy.fenceTimeoutMs ?? 5000)
          .catch((err: Error) => {
            if (err instanceof StaleEpochError) throw err;
            return null;
          });
        if (res?.status === 'ok') {
          return {
            fencedBy: 'agent',
            node: old.name,
            replayed: res.replayed,
            afterLeaseWaitMs: Date.now() - started,
          };
        }
      }
      const expiry = last + policy.leaseMs + policy.leaseMarginMs;
      const now = Date.now();
      if (now >= expiry) {
        if (expiredSince === null || expiredAtLast !== last) {
          expiredSince = now;
          expiredAtLast = last;
        }
        const asked = confirmed ? undefined : await this.peerViewsAfterExpiry(oldId, peers, expiredSince);
        if (asked && asked.latest > last) {
          heardByPeers = asked.latest;
          continue;
        }
        if (!asked || asked.unanswered.length === 0) {
          return {
            fencedBy: 'lease-expiry',
            node: old.name,
            watchdogArmed: armed,
            ...(confirmed && { confirmedByOperator: true }),
            lastContactAgoMs: now - last,
            waitedMs: Date.now() - started,
            ...(asked && { peersAsked: asked.views }),
          };
        }
        peerCheck = asked.views;
        if (now - started > limit) {
          throw new FencingBlockedError(
            `cannot fence ${old.name} by lease expiry: ${asked.unanswered.join(', ')} could not be asked whether ` +
              `${asked.unanswered.length === 1 ? 'it still hears' : 'they still hear'} ${old.name} (a peer that does renews its lease). ` +
              'Not promoting. Restore contact with them, or make sure the node is down and fail over with force and confirmFenced.',
            { node: old.name, unansweredPeers: asked.unanswered, peers: peerCheck },
          );
        }
        await sleep(250);
        continue;
      }
      if (now - started > limit) {
        throw new FencingFailedError(
          `${old.name} is still heard from (last contact ${now - last} ms ago): its lease does not expire; not promoting`,
        );
      }
      await sleep(Math.min(100, expiry - now));
    }
  }

  /**
   * Asks each peer of a node whose lease looks expired how it hears that node now. The node renews
   * its lease only through its own heartbeats a peer answered, and the peer counts each of those as
   * heard when it read them; the question goes out after the node's lease ran out, so a renewal a
   * peer has not told us of yet came after the node's watchdog had already fired. `latest`: the
   * newest time a peer heard the node, or started (−∞: none); `unanswered`: the peers that could
   * not be asked.
   */
  private async peerViewsAfterExpiry(
    nodeId: string,
    peers: string[],
    /** when the node's lease was first seen expired (at its current last contact) */
    expiredSince: number,
  ): Promise<{ latest: number; unanswered: string[]; views: Record<string, unknown> }> {
    const answers = await Promise.all(
      peers.map((id) =>
        this.agents.peerViews(id, 1500).then(
          (v) => ({ id, v, err: undefined }),
          (err: Error) => ({ id, v: undefined, err }),
        ),
      ),
    );
    let latest = Number.NEGATIVE_INFINITY;
    const unanswered: string[] = [];
    const views: Record<string, unknown> = {};
    const silent = answers.filter((a) => !a.v);
    // A peer whose agent API does not answer may still send heartbeats: what it reported about the
    // node in a heartbeat read after the lease was seen expired counts as its answer (every
    // instance publishes those views while a failover waits; the first time, they start now).
    const reported = silent.length ? await this.reportedViews(nodeId) : new Map<string, PeerObservation>();
    for (const a of answers) {
      if (!a.v) {
        const name = (await this.node(a.id).catch(() => undefined))?.name ?? a.id;
        const r = reported.get(a.id.toLowerCase());
        if (r && r.reportedAt >= expiredSince) {
          views[name] = {
            lastHeardAgoMs: r.seenAt === null ? null : Date.now() - r.seenAt,
            from: 'heartbeat',
            agentApi: a.err?.message ?? 'no answer',
          };
          if (r.seenAt !== null) latest = Math.max(latest, r.seenAt);
          continue;
        }
        unanswered.push(name);
        views[name] = {
          error: a.err?.message ?? 'no answer',
          lastReportAgoMs: r ? Date.now() - r.reportedAt : null,
        };
        continue;
      }
      const seenAt = a.v.seenAt.get(nodeId.toLowerCase()) ?? null;
      // A peer that restarted since cannot tell what it heard before: it may have renewed the
      // node's lease just before it went down, so its start counts as contact.
      const startedAt = a.v.startedAt;
      views[a.v.node] = {
        lastHeardAgoMs: seenAt === null ? null : Date.now() - seenAt,
        ...(startedAt !== null && { upForMs: Date.now() - startedAt }),
      };
      latest = Math.max(latest, seenAt ?? Number.NEGATIVE_INFINITY, startedAt ?? Number.NEGATIVE_INFINITY);
    }
    return { latest, unanswered, views };
  }

  /** Observers' latest reports about `nodeId`, published by every instance (observer id, lower case → view). */
  private async reportedViews(nodeId: string): Promise<Map<string, PeerObservation>> {
    try {
      await wantPeerViews(this.redis, nodeId);
      const views = (await readPeerViews(this.redis, [nodeId])).get(nodeId) ?? [];
      return new Map(views.map((v) => [v.observerNodeId.toLowerCase(), v]));
    } catch {
      return new Map();
    }
  }

  private async demoteActive(ctx: StepContext) {
    const old = await this.node(this.oldActive(ctx));
    const res = await this.agents.action(old.id, 'demote', this.request(ctx), 30000);
    if (res.status !== 'ok')
      throw new FencingFailedError(`demote of ${old.name} failed: ${res.output.slice(0, 300)}`);
    return { node: old.name, replayed: res.replayed };
  }

  private async resync(ctx: StepContext) {
    const target = await this.node(this.target(ctx));
    const res = await this.agents.action(target.id, 'resync', this.request(ctx), 600_000);
    if (res.status !== 'ok')
      throw new PreCheckFailedError(`resync of ${target.name} failed: ${res.output.slice(0, 300)}`);
    return { node: target.name, replayed: res.replayed, durationMs: res.finishedAt - res.startedAt };
  }

  private async promote(ctx: StepContext) {
    const target = await this.node(this.target(ctx));
    const res = await this.agents.action(target.id, 'promote', this.request(ctx), 60000);
    if (res.status !== 'ok')
      throw new PromoteFailedError(`promote of ${target.name} failed: ${res.output.slice(0, 300)}`);
    return { node: target.name, replayed: res.replayed };
  }

  private dnsTarget(ctx: StepContext): { nodeId: string; epoch: number } {
    if (ctx.op.type === 'start') return { nodeId: ctx.scenario.activeNodeId, epoch: ctx.scenario.epoch };
    return { nodeId: this.target(ctx), epoch: ctx.op.epoch! };
  }

  private async redirectDns(ctx: StepContext) {
    const { nodeId, epoch } = this.dnsTarget(ctx);
    const node = await this.node(nodeId);
    const writes = this.dns.writesFor(ctx.scenario.id, ctx.scenario.dnsRecords, node.address, epoch);
    await ctx.finish({ address: node.address, epoch, records: writes.map((w) => w.name) }, async (m) => {
      await this.dns.persist(m, writes);
      await m.getRepository(ScenarioEntity).update(ctx.scenario.id, { activeNodeId: nodeId });
    });
    await this.dns.apply(writes);
  }

  /**
   * redirect-dns for a batch: every record stored in one statement (a stale epoch refuses that
   * operation's step only), the scenarios' active nodes in another, then one provider call.
   */
  private async redirectDnsMany(
    ctxs: StepContext[],
    finishMany: FinishMany,
  ): Promise<PromiseSettledResult<unknown>[]> {
    const out: PromiseSettledResult<unknown>[] = new Array(ctxs.length);
    const todo: {
      i: number;
      ctx: StepContext;
      nodeId: string;
      writes: DnsRecordWrite[];
      output: Record<string, unknown>;
    }[] = [];
    await Promise.all(
      ctxs.map(async (ctx, i) => {
        try {
          const { nodeId, epoch } = this.dnsTarget(ctx);
          const node = await this.node(nodeId);
          const writes = this.dns.writesFor(ctx.scenario.id, ctx.scenario.dnsRecords, node.address, epoch);
          todo.push({
            i,
            ctx,
            nodeId,
            writes,
            output: { address: node.address, epoch, records: writes.map((w) => w.name) },
          });
        } catch (reason) {
          out[i] = { status: 'rejected', reason };
        }
      }),
    );
    if (todo.length === 0) return out;
    const refused = new Map<number, { write: DnsRecordWrite; current: number }>();
    // A failing shared statement (PostgreSQL) throws: the batch job is retried as a whole.
    await finishMany(
      todo.map((t) => ({ ctx: t.ctx, output: t.output })),
      async (m) => {
        // Stale first (rows locked): a scenario with any stale record writes none of its records.
        const stale = await this.dns.staleOf(
          m,
          todo.flatMap((t) => t.writes),
        );
        const staleScenarios = new Map(stale.map((x) => [x.write.scenarioId, x]));
        const fresh = todo.filter((t) => !staleScenarios.has(t.ctx.scenario.id)).flatMap((t) => t.writes);
        const raced = await this.dns.persistMany(m, fresh);
        if (raced.length > 0) throw new TransientError(`${raced.length} DNS records changed epoch meanwhile`);
        const excluded = new Set<number>();
        todo.forEach((t, k) => {
          const w = staleScenarios.get(t.ctx.scenario.id);
          if (w) {
            excluded.add(k);
            refused.set(k, w);
          }
        });
        const moving = todo.filter((_, k) => !excluded.has(k));
        if (moving.length > 0) {
          await m.query(
            `UPDATE scenarios AS s SET "activeNodeId" = v.node, "updatedAt" = now()
                 FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::uuid[]) AS node) v WHERE s.id = v.id`,
            [moving.map((t) => t.ctx.scenario.id), moving.map((t) => t.nodeId)],
          );
        }
        return excluded;
      },
    );
    const applied: DnsRecordWrite[] = [];
    for (const [k, t] of todo.entries()) {
      const stale = refused.get(k);
      if (stale) {
        out[t.i] = {
          status: 'rejected',
          reason: new StaleEpochError(stale.current, stale.write.epoch, `DNS write of ${stale.write.name}`),
        };
        continue;
      }
      applied.push(...t.writes);
      out[t.i] = { status: 'fulfilled', value: t.output };
    }
    // Stored: a provider that refuses or fails now is caught up by verify-dns (which re-applies).
    await this.dns
      .applyMany(applied)
      .catch((err: Error) =>
        log.warn({ err: err.message, records: applied.length }, 'DNS apply failed; verify will retry'),
      );
    return out;
  }

  private async verifyDns(ctx: StepContext) {
    const { nodeId, epoch } = this.dnsTarget(ctx);
    const node = await this.node(nodeId);
    const writes = this.dns.writesFor(ctx.scenario.id, ctx.scenario.dnsRecords, node.address, epoch);
    const r = await this.dns.verify(writes, 3000);
    return { answers: node.address, provider: this.dns.provider.kind, ...r };
  }

  /**
   * verify-dns for a batch: every record asked of the server in rounds with a bounded number of
   * queries in flight (not one polling loop per operation), re-applied from PostgreSQL every few
   * rounds; an operation whose records do not answer in time fails its step (retryable) alone.
   */
  private async verifyDnsMany(
    ctxs: StepContext[],
    finishMany: FinishMany,
  ): Promise<PromiseSettledResult<unknown>[]> {
    const out: PromiseSettledResult<unknown>[] = new Array(ctxs.length);
    const todo: { i: number; ctx: StepContext; writes: DnsRecordWrite[]; address: string }[] = [];
    await Promise.all(
      ctxs.map(async (ctx, i) => {
        try {
          const { nodeId, epoch } = this.dnsTarget(ctx);
          const node = await this.node(nodeId);
          todo.push({
            i,
            ctx,
            address: node.address,
            writes: this.dns.writesFor(ctx.scenario.id, ctx.scenario.dnsRecords, node.address, epoch),
          });
        } catch (reason) {
          out[i] = { status: 'rejected', reason };
        }
      }),
    );
    if (todo.length === 0) return out;
    const started = Date.now();
    const { pending, rounds } = await this.dns.verifyMany(
      todo.flatMap((t) => t.writes),
      3000 + todo.length,
    );
    const late = new Set(pending.map((w) => w.scenarioId));
    const ok = todo.filter((t) => !late.has(t.ctx.scenario.id));
    const ms = Date.now() - started;
    if (ok.length > 0) {
      await finishMany(
        ok.map((t) => ({
          ctx: t.ctx,
          output: { answers: t.address, provider: this.dns.provider.kind, rounds, ms },
        })),
        async () => new Set<number>(),
      );
    }
    for (const t of todo) {
      out[t.i] = late.has(t.ctx.scenario.id)
        ? {
            status: 'rejected',
            reason: new TransientError(
              `DNS does not answer the new value yet for ${t.writes.map((w) => w.name).join(', ')}`,
            ),
          }
        : { status: 'fulfilled', value: { answers: t.address } };
    }
    return out;
  }

  /**
   * The operation's client-moved verification (clients-moved.ts), or null when the scenario has no
   * `policy.verifyClients`. Time counts from this step's first start (kept across re-runs).
   */
  private async clientsPlanFor(ctx: StepContext): Promise<ClientsPlan | null> {
    const vc = ctx.scenario.policy.verifyClients;
    if (!vc) return null;
    const { nodeId } = this.dnsTarget(ctx);
    const [node, old] = await Promise.all([
      this.node(nodeId),
      this.node(this.oldActive(ctx)).catch(() => null),
    ]);
    const startedAt = (ctx.step.startedAt ?? new Date()).getTime();
    return clientsPlan(vc, ctx.scenario.dnsRecords, node.address, old?.address ?? null, startedAt);
  }

  private clientsIo(ctx: StepContext): ClientsIo {
    return {
      now: () => Date.now(),
      sleep,
      query: (resolver, record) =>
        queryRecord(
          { ...resolver, timeoutMs: RESOLVER_QUERY_TIMEOUT_MS },
          record as { name: string; type: 'A' | 'AAAA' | 'CNAME' },
          true,
        ),
      probe: probeClientPath,
      warn: (w) => this.warnClientsNotMoved(ctx, w),
    };
  }

  /** "Clients moved": users' resolvers (and the optional probe) see the new address; never fails the operation. */
  private async verifyClients(ctx: StepContext) {
    const plan = await this.clientsPlanFor(ctx);
    if (!plan) return CLIENTS_NOT_CONFIGURED;
    return watchClients(plan, this.clientsIo(ctx));
  }

  /**
   * verify-clients for a batch: the operations without verifyClients are done in one commit at
   * once; the others are watched concurrently and committed together when the last one is done
   * (the batch goes on to post-checks then: at most TTL + margin + grace later).
   */
  private async verifyClientsMany(
    ctxs: StepContext[],
    finishMany: FinishMany,
  ): Promise<PromiseSettledResult<unknown>[]> {
    const out: PromiseSettledResult<unknown>[] = new Array(ctxs.length);
    const plain: { i: number; ctx: StepContext }[] = [];
    const watched: { i: number; ctx: StepContext; plan: ClientsPlan }[] = [];
    await Promise.all(
      ctxs.map(async (ctx, i) => {
        try {
          const plan = await this.clientsPlanFor(ctx);
          if (plan) watched.push({ i, ctx, plan });
          else plain.push({ i, ctx });
        } catch (reason) {
          out[i] = { status: 'rejected', reason };
        }
      }),
    );
    if (plain.length > 0) {
      await finishMany(
        plain.map((p) => ({ ctx: p.ctx, output: CLIENTS_NOT_CONFIGURED })),
        async () => new Set<number>(),
      );
      for (const p of plain) out[p.i] = { status: 'fulfilled', value: CLIENTS_NOT_CONFIGURED };
    }
    if (watched.length === 0) return out;
    const results = await Promise.allSettled(watched.map((w) => watchClients(w.plan, this.clientsIo(w.ctx))));
    const done = watched.flatMap((w, k) => {
      const r = results[k];
      return r.status === 'fulfilled' ? [{ ctx: w.ctx, output: r.value }] : [];
    });
    if (done.length > 0) await finishMany(done, async () => new Set<number>());
    watched.forEach((w, k) => (out[w.i] = results[k]));
    return out;
  }

  /**
   * A `clients-not-moved` warning event and webhook, once per resolver (or probe) and operation:
   * a re-run of the step finds the event it wrote and the webhook's job id is the same.
   */
  private async warnClientsNotMoved(ctx: StepContext, w: Warning): Promise<void> {
    const details = { operationId: ctx.op.id, key: w.key, [w.subject]: w.target, ...w.details };
    try {
      const seen: unknown[] = await this.dataSource.query(
        `SELECT 1 FROM events WHERE "scenarioId" = $1 AND kind = 'clients-not-moved'
            AND details->>'operationId' = $2 AND details->>'key' = $3 LIMIT 1`,
        [ctx.scenario.id, ctx.op.id, w.key],
      );
      if (seen.length === 0) {
        await this.dataSource.getRepository(EventEntity).insert({
          kind: 'clients-not-moved',
          severity: 'warning',
          scenarioId: ctx.scenario.id,
          nodeId: null,
          message: `${ctx.scenario.name}: ${w.message}`.slice(0, 1000),
          details: details as never,
        });
      }
      await this.notifications.publish(`operation.${ctx.op.id}.clients-not-moved.${w.key}`, {
        kind: 'clients-not-moved',
        severity: 'warning',
        message: `${ctx.scenario.name}: ${w.message}`.slice(0, 1000),
        scenarioId: ctx.scenario.id,
        operationId: ctx.op.id,
        details,
      });
      log.warn({ scenarioId: ctx.scenario.id, [w.subject]: w.target }, w.message);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'clients-not-moved warning not recorded');
    }
  }

  private async postChecks(ctx: StepContext) {
    const target = await this.node(this.target(ctx));
    const status = await this.agents.status(target.id);
    const role = scenarioRoleFromStatus(status, ctx.scenario.id);
    if (role && (role.role !== 'production' || role.epoch < ctx.op.epoch!)) {
      throw new TransientError(
        `${target.name} reports ${role.role} at epoch ${role.epoch}, expected production`,
      );
    }
    return { node: target.name, role: role?.role ?? 'not reported', epoch: role?.epoch ?? null };
  }

  private async startChecks(ctx: StepContext) {
    const active = await this.node(ctx.scenario.activeNodeId);
    await this.agents.status(active.id).catch((err) => {
      if (ctx.op.params.force === true) return {};
      if (err instanceof AgentUnreachableError) throw err;
      throw new PreCheckFailedError(`agent of ${active.name}: ${(err as Error).message}`);
    });
    return { active: active.name };
  }

  private async notify(ctx: StepContext) {
    const message = `${ctx.op.type} of ${ctx.scenario.name} done`;
    // Queued before the step is marked done: a retry re-queues the same job id (sent once).
    await this.notifications.publish(`operation.${ctx.op.id}.succeeded`, {
      kind: 'operation-succeeded',
      severity: 'info',
      message,
      scenarioId: ctx.scenario.id,
      operationId: ctx.op.id,
      details: { type: ctx.op.type, trigger: ctx.op.trigger, epoch: ctx.op.epoch, params: ctx.op.params },
    });
    await ctx.finish({ event: 'operation-succeeded' }, async (m) => {
      await m.getRepository(EventEntity).insert({
        kind: 'operation-succeeded',
        severity: 'info',
        scenarioId: ctx.scenario.id,
        nodeId: null,
        message,
        details: { operationId: ctx.op.id, type: ctx.op.type, epoch: ctx.op.epoch } as never,
      });
    });
    await this.redis
      .publish('events', JSON.stringify({ kind: 'operation-succeeded', operationId: ctx.op.id, message }))
      .catch(() => undefined);
  }

  // ---- Assured Recovery (ar-test): one replica, current epoch, production and DNS never touched.

  private arTarget(ctx: StepContext): NodeEntity['id'] {
    const t = ctx.op.params.targetNodeId;
    if (typeof t !== 'string') throw new PreCheckFailedError('AR test has no target replica');
    return t;
  }

  private async arAction(ctx: StepContext, action: AgentAction, timeoutMs: number) {
    const node = await this.node(this.arTarget(ctx));
    const res = await this.agents.action(node.id, action, this.request(ctx), timeoutMs);
    return { node, res, output: res.output.slice(0, 1000) };
  }

  private async arSuspend(ctx: StepContext) {
    const target = this.arTarget(ctx);
    const replicas = (ctx.scenario.replicas ?? []).map((r) => r.nodeId);
    // Re-checked here (the API checked it too): the active node must never be suspended by a test.
    if (!replicas.includes(target) || target === ctx.scenario.activeNodeId) {
      throw new PreCheckFailedError(`node ${target} is not a standby replica of ${ctx.scenario.name}`);
    }
    try {
      const { node, res, output } = await this.arAction(ctx, 'ar-suspend', 120_000);
      if (res.status !== 'ok') {
        // The script ran and failed: apply may be half suspended, so rewind + resume still run.
        throw new ArStepFailedError(`ar-suspend on ${node.name} failed: ${output.slice(0, 300)}`);
      }
      return { node: node.name, epoch: res.epoch, replayed: res.replayed };
    } catch (err) {
      // The agent ran nothing (action not in its config, bad token): nothing to clean up.
      if (err instanceof AgentRefusedError) throw new PreCheckFailedError(err.message);
      throw err;
    }
  }

  private async arStart(ctx: StepContext) {
    const { node, res, output } = await this.arAction(ctx, 'ar-start', 600_000);
    if (res.status === 'ok') return { node: node.name, started: true, replayed: res.replayed };
    // The application does not start on the replica copy: that is the test's answer, not a
    // machinery failure. ar-check is not run; rewind + resume are.
    const result = { arResult: 'failed', failedAt: 'ar-start', exitCode: res.exitCode, output };
    await ctx.finish({ node: node.name, started: false, ...result }, (m) =>
      this.recordArResult(m, ctx, result),
    );
  }

  private async arCheck(ctx: StepContext) {
    if (ctx.op.params.arResult === 'failed') return { ran: false, reason: 'the application did not start' };
    const { node, res, output } = await this.arAction(ctx, 'ar-check', 600_000);
    const result = {
      arResult: res.status === 'ok' ? 'passed' : 'failed',
      exitCode: res.exitCode,
      timedOut: res.timedOut,
      output,
    };
    await ctx.finish({ node: node.name, ran: true, ...result }, (m) => this.recordArResult(m, ctx, result));
  }

  private async recordArResult(m: EntityManager, ctx: StepContext, result: Record<string, unknown>) {
    await m.query(`UPDATE operations SET params = params || $2::jsonb WHERE id = $1`, [
      ctx.op.id,
      JSON.stringify(result),
    ]);
    Object.assign(ctx.op.params, result);
  }

  private async arSnapshot(ctx: StepContext) {
    const { node, res, output } = await this.arAction(ctx, 'ar-snapshot', 600_000);
    if (res.status !== 'ok')
      throw new ArStepFailedError(`ar-snapshot on ${node.name} failed: ${output.slice(0, 300)}`);
    return { node: node.name, output, replayed: res.replayed };
  }

  /** Whether ar-suspend may have touched the replica (it started); if not, cleanup has nothing to undo. */
  private async suspendStarted(ctx: StepContext): Promise<boolean> {
    const s = await this.dataSource
      .getRepository(OperationStepEntity)
      .findOne({ where: { operationId: ctx.op.id, name: 'ar-suspend' } });
    return !!s && s.state !== 'pending' && s.state !== 'skipped';
  }

  private async arRewind(ctx: StepContext) {
    if (!(await this.suspendStarted(ctx))) return { ran: false, reason: 'the replica was never suspended' };
    const { node, res, output } = await this.arAction(ctx, 'ar-rewind', 600_000);
    if (res.status !== 'ok')
      throw new ArStepFailedError(`ar-rewind on ${node.name} failed: ${output.slice(0, 300)}`);
    return { node: node.name, replayed: res.replayed };
  }

  /** Last step: apply resumed, the scenario back to running, the result as an event and in the audit log. */
  private async arResume(ctx: StepContext) {
    let node: string | null = null;
    if (await this.suspendStarted(ctx)) {
      const r = await this.arAction(ctx, 'ar-resume', 120_000);
      if (r.res.status !== 'ok')
        throw new ArStepFailedError(`ar-resume on ${r.node.name} failed: ${r.output.slice(0, 300)}`);
      node = r.node.name;
    }
    // Fresh: an abort may have been flagged after this step's job loaded the operation.
    const p =
      (await this.dataSource.getRepository(OperationEntity).findOne({ where: { id: ctx.op.id } }))?.params ??
      ctx.op.params;
    const aborted = p.abortRequested === true;
    const arResult = typeof p.arResult === 'string' ? p.arResult : aborted ? 'aborted' : null;
    const failure = typeof p.failure === 'string' ? p.failure : null;
    const message =
      `AR test of ${ctx.scenario.name}: ${arResult ?? 'no result'}` +
      (aborted ? ` (aborted: ${String(p.abortReason ?? 'failover')})` : failure ? ` (${failure})` : '');
    const state = String(p.previousState ?? 'running');
    // Queued before the step is marked done: a retry re-queues the same job id (sent once).
    await this.notifications.publish(`operation.${ctx.op.id}.ar-test-result`, {
      kind: 'ar-test-result',
      severity: arSeverity(arResult),
      message: message.slice(0, 1000),
      scenarioId: ctx.scenario.id,
      nodeId: this.arTarget(ctx),
      operationId: ctx.op.id,
      details: { arResult, aborted, failure },
    });
    await ctx.finish({ node, arResult, aborted, state }, async (m) => {
      await m.getRepository(ScenarioEntity).update(ctx.scenario.id, { state: state as never });
      await m.getRepository(EventEntity).insert({
        kind: 'ar-test-result',
        severity: arSeverity(arResult),
        scenarioId: ctx.scenario.id,
        nodeId: this.arTarget(ctx),
        message: message.slice(0, 1000),
        details: { operationId: ctx.op.id, arResult, aborted, failure } as never,
      });
      await this.audit.record(
        {
          actor: ctx.op.requestedBy,
          action: `operation.ar-test.${failure || aborted ? 'failed' : 'succeeded'}`,
          targetType: 'scenario',
          targetId: ctx.scenario.id,
          reason: ctx.op.reason,
          details: { operationId: ctx.op.id, epoch: ctx.op.epoch, arResult, aborted, failure },
        },
        m,
      );
    });
  }

  /** Final step: the scenario's end state and the audit entry, in one transaction. */
  private async complete(ctx: StepContext) {
    // After an active-server recovery users are on production (running) or on a replica (failed_over).
    const state =
      ctx.op.type === 'active-server-recovery'
        ? ctx.op.params.targetNodeId === ctx.scenario.productionNodeId
          ? 'running'
          : 'failed_over'
        : (FINAL_STATE[ctx.op.type] ?? 'running');
    const hold = MOVES_USERS.has(ctx.op.type)
      ? new Date(Date.now() + ctx.scenario.policy.holdDownMs)
      : ctx.scenario.holdUntil;
    await ctx.finish({ state, holdUntil: hold }, async (m) => {
      await m
        .getRepository(ScenarioEntity)
        .update(ctx.scenario.id, { state: state as never, holdUntil: hold });
      await this.audit.record(
        {
          actor: ctx.op.requestedBy,
          action: `operation.${ctx.op.type}.succeeded`,
          targetType: 'scenario',
          targetId: ctx.scenario.id,
          reason: ctx.op.reason,
          details: { operationId: ctx.op.id, epoch: ctx.op.epoch, state, params: ctx.op.params },
        },
        m,
      );
    });
  }
}

export type { AgentAction };

/** An AR step's script failed on the replica: unrecoverable, but rewind + resume still run. */
export class ArStepFailedError extends DomainError {
  readonly status = 409;
  readonly code = 'ar_step_failed';
}

/** An operator forced this operation: the promotion policy (lag, labels, site) may be overridden. */
function policyOverridden(op: OperationEntity): boolean {
  return op.trigger === 'manual' && op.params.force === true;
}

/** A replica that failed its AR test could not take over: critical. Aborted or no verdict: warning. */
function arSeverity(arResult: string | null): 'info' | 'warning' | 'critical' {
  return arResult === 'passed' ? 'info' : arResult === 'failed' ? 'critical' : 'warning';
}
