/**
 * In-memory picture of nodes and scenarios, read by the hot paths (heartbeats, detector) so they
 * never query PostgreSQL per request. Checked every second and at once when any instance publishes
 * a change; if PostgreSQL is down, the last picture stays (fail static).
 * A check first asks PostgreSQL for a digest of every row involved (one short answer) and loads
 * the picture only when it differs: hydrating thousands of rows every second cost more than
 * anything else an idle orchestrator did, and a new picture (a new `generation`) throws away every
 * cache derived from it.
 */
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createLogger } from '../common/logger';
import { NodeEntity } from '../nodes/node.entity';
import { RedisService } from '../redis/redis.service';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { pushTo } from '../common/push-to';

const log = createLogger('TopologyService');
export const TOPOLOGY_CHANNEL = 'topology';

/** Whole rows (every column, whoever wrote them), so no change can slip past the digest. */
const DIGEST_SQL = `SELECT md5(
  coalesce((SELECT string_agg(n::text, ',' ORDER BY n.id) FROM nodes n), '') || '|' ||
  coalesce((SELECT string_agg(s::text, ',' ORDER BY s.id) FROM scenarios s), '') || '|' ||
  coalesce((SELECT string_agg(r::text, ',' ORDER BY r."scenarioId", r."nodeId") FROM scenario_replicas r), '')
) AS digest`;

export interface TopologyNode {
  id: string;
  name: string;
  address: string;
  agentUrl: string;
  labels: Record<string, string>;
}

export interface TopologyScenario {
  entity: ScenarioEntity;
  replicaNodeIds: string[];
  /** every node of the scenario: production first, then replicas in order */
  nodeIds: string[];
}

@Injectable()
export class TopologyService implements OnApplicationBootstrap, OnApplicationShutdown {
  private nodes = new Map<string, TopologyNode>();
  private scenarios = new Map<string, TopologyScenario>();
  private byNode = new Map<string, TopologyScenario[]>();
  private timer: NodeJS.Timeout | null = null;
  private loading: Promise<void> | null = null;
  /** the load queued behind the running one (shared by everyone who asked meanwhile) */
  private next: Promise<void> | null = null;
  loadedAt = 0;
  /** Incremented by every reload that found a change: caches derived from the topology compare it. */
  generation = 0;
  private digest = '';
  /** a caller knows of a change: the next load skips the digest comparison */
  private forceNext = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly redis: RedisService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.reload();
    // A published change is a known one: load at once. The timer is the safety net for a missed
    // message (Redis reconnects): it asks for the digest first.
    await this.redis.subscribe(TOPOLOGY_CHANNEL, () => void this.reload());
    this.timer = setInterval(() => void this.reload({ ifChanged: true }), 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Tell every instance to reload now (after a scenario or node change). */
  async changed(): Promise<void> {
    await this.reload();
    await this.redis.publish(TOPOLOGY_CHANNEL, String(Date.now())).catch(() => undefined);
  }

  /**
   * Resolves once a load that started after this call has finished (a change committed before the
   * call is then in the picture). Callers during a load share the one next load, so a thousand
   * operations finishing at once cost two loads, not a thousand.
   */
  reload(options: { ifChanged?: boolean } = {}): Promise<void> {
    if (!options.ifChanged) this.forceNext = true;
    if (!this.loading) {
      this.loading = this.runLoad();
      return this.loading;
    }
    this.next ??= this.loading.then(() => {
      this.next = null;
      this.loading = this.runLoad();
      return this.loading;
    });
    return this.next;
  }

  private runLoad(): Promise<void> {
    const force = this.forceNext;
    this.forceNext = false;
    return this.load(force)
      .catch((err: Error) => log.warn({ err: err.message }, 'topology reload failed; keeping the last one'))
      .finally(() => {
        this.loading = null;
      });
  }

  private async load(force: boolean): Promise<void> {
    const readDigest = async () =>
      ((await this.dataSource.query(DIGEST_SQL)) as { digest: string }[])[0].digest;
    const readRows = () =>
      Promise.all([
        this.dataSource.getRepository(NodeEntity).find(),
        this.dataSource
          .getRepository(ScenarioEntity)
          .createQueryBuilder('s')
          .addSelect('s.peerToken')
          .leftJoinAndSelect('s.replicas', 'r')
          .getMany(),
      ]);
    let digest: string;
    let rows: [NodeEntity[], ScenarioEntity[]];
    if (force) {
      // A known change: no waiting for the digest (read alongside, for the next check).
      [digest, rows] = await Promise.all([readDigest(), readRows()]);
    } else {
      digest = await readDigest();
      if (digest === this.digest && this.generation > 0) {
        this.loadedAt = Date.now();
        return;
      }
      rows = await readRows();
    }
    const [nodes, scenarios] = rows;
    const nodeMap = new Map<string, TopologyNode>();
    for (const n of nodes) {
      nodeMap.set(n.id, {
        id: n.id,
        name: n.name,
        address: n.address,
        agentUrl: n.agentUrl,
        labels: n.labels,
      });
    }
    const scenarioMap = new Map<string, TopologyScenario>();
    const byNode = new Map<string, TopologyScenario[]>();
    for (const s of scenarios) {
      const replicaNodeIds = [...(s.replicas ?? [])]
        .sort((a, b) => a.position - b.position)
        .map((r) => r.nodeId);
      const t: TopologyScenario = {
        entity: s,
        replicaNodeIds,
        nodeIds: [s.productionNodeId, ...replicaNodeIds],
      };
      scenarioMap.set(s.id, t);
      for (const id of t.nodeIds) {
        pushTo(byNode, id, t);
      }
    }
    this.nodes = nodeMap;
    this.scenarios = scenarioMap;
    this.byNode = byNode;
    this.loadedAt = Date.now();
    this.generation++;
    // The digest read before (or beside) the rows: a change in between only makes the next check
    // load again.
    this.digest = digest;
  }

  node(id: string): TopologyNode | undefined {
    return this.nodes.get(id);
  }

  scenario(id: string): TopologyScenario | undefined {
    return this.scenarios.get(id);
  }

  allScenarios(): TopologyScenario[] {
    return [...this.scenarios.values()];
  }

  allNodes(): TopologyNode[] {
    return [...this.nodes.values()];
  }

  scenariosOfNode(nodeId: string): TopologyScenario[] {
    return this.byNode.get(nodeId) ?? [];
  }
}
