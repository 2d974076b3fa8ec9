/**
 * State gauges for NOC dashboards and alert rules, computed at scrape time from what this
 * instance holds in memory (no query per scrape):
 *   ha_scenario_state{scenario,state} 1, ha_scenario_epoch{scenario}, ha_scenario_active{scenario,node} 1,
 *   ha_node_verdict{node,verdict} 1 and ha_detector_leader (instances with the detector role).
 */
import { Injectable, OnModuleInit } from '@nestjs/common';
import { VERDICTS } from '@ha/contracts';
import { Gauge } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';
import { TopologyService } from '../topology/topology.service';
import { DetectorService } from './detector.service';

@Injectable()
export class DetectionMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly topology: TopologyService,
    private readonly detector: DetectorService,
  ) {}

  onModuleInit(): void {
    const registers = [this.metrics.registry];
    const topology = this.topology;
    const detector = this.detector;
    new Gauge({
      name: 'ha_scenario_state',
      help: 'Scenario state (1 for the current state)',
      labelNames: ['scenario', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const t of topology.allScenarios())
          this.set({ scenario: t.entity.name, state: t.entity.state }, 1);
      },
    });
    new Gauge({
      name: 'ha_scenario_epoch',
      help: 'Fencing epoch of the scenario',
      labelNames: ['scenario'] as const,
      registers,
      collect() {
        this.reset();
        for (const t of topology.allScenarios()) this.set({ scenario: t.entity.name }, t.entity.epoch);
      },
    });
    new Gauge({
      name: 'ha_scenario_active',
      help: 'Node users are sent to (1 for the active node)',
      labelNames: ['scenario', 'node'] as const,
      registers,
      collect() {
        this.reset();
        for (const t of topology.allScenarios()) {
          const node = topology.node(t.entity.activeNodeId)?.name ?? t.entity.activeNodeId;
          this.set({ scenario: t.entity.name, node }, 1);
        }
      },
    });
    new Gauge({
      name: 'ha_node_verdict',
      help: "Detector verdict of the node (1 for the current verdict; this instance's view)",
      labelNames: ['node', 'verdict'] as const,
      registers,
      collect() {
        this.reset();
        if (!detector.enabled) return;
        for (const n of topology.allNodes()) {
          const ev = detector.evidenceOf(n.id);
          if (!ev) continue;
          for (const v of VERDICTS) this.set({ node: n.name, verdict: v }, v === ev.verdict ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'ha_detector_leader',
      help: '1 when this instance leads the detectors (records events, requests failovers)',
      registers,
      collect() {
        this.set(detector.enabled && detector.isLeader ? 1 : 0);
      },
    });
  }
}
