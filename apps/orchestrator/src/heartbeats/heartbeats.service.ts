import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { HeartbeatRequest, HeartbeatResponse, ScenarioAssignment, UdpHeartbeat } from '@ha/contracts';
import { DataSource } from 'typeorm';
import { DetectorMembership } from '../cluster/membership.service';
import { EpochNotIssuedError } from '../common/errors';
import { createLogger } from '../common/logger';
import { MetricsService } from '../metrics/metrics.service';
import { TopologyService } from '../topology/topology.service';
import { HeartbeatStore, UdpOutcome } from './heartbeat.store';

const log = createLogger('HeartbeatsService');

/** Digest of an assignment list: equal digests, equal lists. */
export function assignmentVersion(scenarios: ScenarioAssignment[]): string {
  return createHash('sha256').update(JSON.stringify(scenarios)).digest('base64url').slice(0, 32);
}

@Injectable()
export class HeartbeatsService {
  private readonly cache = new Map<string, { scenarios: ScenarioAssignment[]; version: string }>();
  private cacheAt = -1;
  /** set by HeartbeatUdpServer once its socket is bound: every answer then names it */
  udpPort: number | undefined;
  /** membership generation each node's last full answer was computed with (its owners list) */
  private readonly ownersTold = new Map<string, number>();
  /** heartbeats taken since metrics were last read (see MetricsService.onCollect) */
  private taken = 0;

  constructor(
    private readonly store: HeartbeatStore,
    private readonly topology: TopologyService,
    private readonly metrics: MetricsService,
    private readonly dataSource: DataSource,
    private readonly membership: DetectorMembership,
  ) {
    metrics.onCollect(() => {
      if (this.taken === 0) return;
      metrics.heartbeats.inc(this.taken);
      this.taken = 0;
    });
  }

  /**
   * The hot path stays synchronous: only a heartbeat that reports a scenario the cache does not
   * tie to this node, or an epoch newer than the cache (for a second after every promotion), or
   * that asks for epochs to be confirmed, reads PostgreSQL.
   */
  receive(hb: HeartbeatRequest): HeartbeatResponse | Promise<HeartbeatResponse> {
    const suspicious = this.suspiciousReports(hb);
    if (suspicious.length === 0 && !hb.confirmEpochs?.length)
      return this.unchangedLeftOut(hb, this.accept(hb));
    return this.receiveChecked(hb, suspicious).then((answer) => this.unchangedLeftOut(hb, answer));
  }

  /** A verified UDP heartbeat (HeartbeatUdpServer checked its signature). */
  receiveUdp(hb: UdpHeartbeat, now = Date.now()): UdpOutcome {
    const outcome = this.store.acceptUdp(hb, now);
    if (outcome === 'accepted' || outcome === 'need_full') this.taken++;
    // The detector members changed since this node was last told its owners: a full heartbeat
    // (whose answer names them) now, not at the agent's next periodic one.
    if (
      outcome === 'accepted' &&
      this.membership.enabled &&
      this.ownersTold.get(hb.nodeId) !== this.membership.generation
    )
      return 'need_full';
    return outcome;
  }

  /** The assignmentVersion a full answer would carry now (UDP acknowledgements name it). */
  assignmentVersionOf(nodeId: string): string {
    return this.cachedAssignments(nodeId).version;
  }

  assignmentsFor(nodeId: string): ScenarioAssignment[] {
    return this.topology.scenariosOfNode(nodeId).map(({ entity: s, nodeIds }) => ({
      scenarioId: s.id,
      name: s.name,
      epoch: s.epoch,
      role: s.activeNodeId === nodeId ? 'production' : 'replica',
      productionNodeId: s.productionNodeId,
      activeNodeId: s.activeNodeId,
      leaseMs: s.policy.leaseMs,
      peers: nodeIds
        .filter((id) => id !== nodeId)
        .map((id) => this.topology.node(id))
        .filter((n) => !!n)
        .map((n) => ({ nodeId: n!.id, name: n!.name, agentUrl: n!.agentUrl })),
      peerToken: s.peerToken,
    }));
  }

  /**
   * The node's assignments and their digest, computed once per topology reload (not per
   * heartbeat). Callers that change an assignment must copy it (the cache is shared).
   */
  private cachedAssignments(nodeId: string): { scenarios: ScenarioAssignment[]; version: string } {
    if (this.cacheAt !== this.topology.generation) {
      this.cache.clear();
      this.cacheAt = this.topology.generation;
    }
    let entry = this.cache.get(nodeId);
    if (!entry) {
      const scenarios = this.assignmentsFor(nodeId);
      entry = { scenarios, version: assignmentVersion(scenarios) };
      this.cache.set(nodeId, entry);
    }
    return entry;
  }

  private accept(hb: HeartbeatRequest): HeartbeatResponse & { scenarios: ScenarioAssignment[] } {
    // Stored as jsonb: the JSON limits hook (bootstrap) has already refused every NUL and lone
    // surrogate PostgreSQL would refuse, so nothing is left to repair here.
    if (this.store.accept(hb)) this.taken++;
    const { scenarios, version } = this.cachedAssignments(hb.nodeId);
    const owners = this.membership.ownersOf(hb.nodeId);
    this.ownersTold.set(hb.nodeId, this.membership.generation);
    return {
      nodeId: hb.nodeId,
      serverTime: Date.now(),
      scenarios,
      assignmentVersion: version,
      ...(this.udpPort !== undefined && { udpPort: this.udpPort }),
      ...(owners.length > 0 && { owners: owners.map((m) => m.url) }),
    };
  }

  /** Leaves the assignments out of an answer the agent already holds (same digest). */
  private unchangedLeftOut(hb: HeartbeatRequest, answer: HeartbeatResponse): HeartbeatResponse {
    if (hb.assignmentVersion === undefined || hb.assignmentVersion !== answer.assignmentVersion)
      return answer;
    return {
      nodeId: answer.nodeId,
      serverTime: answer.serverTime,
      assignmentVersion: answer.assignmentVersion,
      ...(answer.udpPort !== undefined && { udpPort: answer.udpPort }),
      ...(answer.owners && { owners: answer.owners }),
    };
  }

  /** Indexes of role reports the cached topology cannot vouch for. */
  private suspiciousReports(hb: HeartbeatRequest): number[] {
    const out: number[] = [];
    hb.scenarios.forEach((r, i) => {
      const t = this.topology.scenario(r.scenarioId);
      if (!t || !t.nodeIds.includes(hb.nodeId) || r.epoch > t.entity.epoch) out.push(i);
    });
    return out;
  }

  private async receiveChecked(hb: HeartbeatRequest, suspicious: number[]): Promise<HeartbeatResponse> {
    const ids = [
      ...new Set([...suspicious.map((i) => hb.scenarios[i].scenarioId), ...(hb.confirmEpochs ?? [])]),
    ];
    let rows: { id: string; epoch: number; member: boolean }[];
    try {
      rows = await this.dataSource.query(
        `SELECT s.id, s.epoch, (s."productionNodeId" = $2 OR EXISTS (
            SELECT 1 FROM scenario_replicas r WHERE r."scenarioId" = s.id AND r."nodeId" = $2)) AS member
           FROM scenarios s WHERE s.id = ANY($1::uuid[])`,
        [ids, hb.nodeId],
      );
    } catch (err) {
      // Fail static: PostgreSQL down must not cost a node its contact (that would end in a
      // self-fence). Keep the liveness, drop the reports nobody can vouch for, confirm nothing.
      log.warn({ err: (err as Error).message, nodeId: hb.nodeId }, 'cannot check reported epochs');
      const drop = new Set(suspicious);
      return this.accept({ ...hb, scenarios: hb.scenarios.filter((_, i) => !drop.has(i)) });
    }
    const byId = new Map(rows.map((r) => [r.id, r]));
    // A scenario deleted (or this node removed from it) since the agent's last answer: its report is
    // not stored, but the heartbeat is taken, so the answer brings the agent its new assignments.
    const notMember = new Set(suspicious.filter((i) => !byId.get(hb.scenarios[i].scenarioId)?.member));
    for (const i of suspicious) {
      if (notMember.has(i)) continue;
      const report = hb.scenarios[i];
      const row = byId.get(report.scenarioId)!;
      if (report.epoch > row.epoch) {
        log.error(
          { nodeId: hb.nodeId, scenarioId: report.scenarioId, reported: report.epoch, issued: row.epoch },
          'heartbeat reports an epoch that was never issued; refused',
        );
        throw new EpochNotIssuedError(
          `scenarios[${i}].epoch ${report.epoch} was never issued: the epoch of scenario ${report.scenarioId} is ${row.epoch}`,
          { field: `scenarios.${i}.epoch`, issued: row.epoch, reported: report.epoch },
        );
      }
    }
    const response = this.accept(
      notMember.size ? { ...hb, scenarios: hb.scenarios.filter((_, i) => !notMember.has(i)) } : hb,
    );
    // Epochs asked for are read from PostgreSQL: the cache may lag a promotion by up to a second.
    let newer = false;
    const scenarios = response.scenarios.map((a) => {
      const row = byId.get(a.scenarioId);
      if (!row || row.epoch <= a.epoch) return a;
      newer = true;
      return { ...a, epoch: row.epoch };
    });
    if (!newer) return response;
    return { ...response, scenarios, assignmentVersion: assignmentVersion(scenarios) };
  }
}
