import { Injectable } from '@nestjs/common';
import { HeartbeatRequest, HeartbeatResponse, ScenarioAssignment } from '@ha/contracts';
import { MetricsService } from '../metrics/metrics.service';
import { TopologyService } from '../topology/topology.service';
import { HeartbeatStore } from './heartbeat.store';
import { jsonbSafeDeep } from './jsonb-safe';

@Injectable()
export class HeartbeatsService {
  constructor(
    private readonly store: HeartbeatStore,
    private readonly topology: TopologyService,
    private readonly metrics: MetricsService,
  ) {}

  receive(hb: HeartbeatRequest): HeartbeatResponse {
    // Stored as jsonb: strings PostgreSQL would refuse are repaired on the way in.
    if (this.store.accept(jsonbSafeDeep(hb))) this.metrics.heartbeats.inc();
    return { nodeId: hb.nodeId, serverTime: Date.now(), scenarios: this.assignmentsFor(hb.nodeId) };
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
}
