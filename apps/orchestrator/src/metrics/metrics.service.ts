import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics, named ha_<thing>_<unit>. One registry per app instance (tests start several). */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly flushers: (() => void)[] = [];

  readonly httpRequests = new Counter({
    name: 'ha_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly heartbeats = new Counter({
    name: 'ha_heartbeats_total',
    help: 'Agent heartbeats accepted (HTTP and UDP)',
    registers: [this.registry],
    collect: () => this.flushHot(),
  });

  readonly udpDatagrams = new Counter({
    name: 'ha_heartbeat_udp_datagrams_total',
    help:
      'UDP heartbeat datagrams by result: accepted, need_full (liveness taken, full HTTP heartbeat asked for), ' +
      'replay, unknown_boot, unknown_key (no HTTP heartbeat taught this instance the node key), forged, malformed',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: () => this.flushHot(),
  });

  /**
   * The heartbeat paths count in plain numbers (a labelled inc per datagram costs more than the
   * rest of a UDP heartbeat's JavaScript) and hand them over here whenever metrics are read.
   */
  onCollect(flush: () => void): void {
    this.flushers.push(flush);
  }

  private flushHot(): void {
    for (const f of this.flushers) f();
  }

  readonly alertsReceived = new Counter({
    name: 'ha_alerts_received_total',
    help: 'External alerts received, by source (alertmanager, generic), state, whether mapped to a node, and change (new, changed, repeated)',
    labelNames: ['source', 'state', 'mapped', 'change'] as const,
    registers: [this.registry],
  });

  readonly verdictChanges = new Counter({
    name: 'ha_verdict_changes_total',
    help: 'Node verdict changes by new verdict',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });

  readonly operations = new Counter({
    name: 'ha_operations_total',
    help: 'Finished operations by type, trigger and result',
    labelNames: ['type', 'trigger', 'state'] as const,
    registers: [this.registry],
  });

  readonly operationDuration = new Histogram({
    name: 'ha_operation_duration_seconds',
    help: 'Operation duration from request to end',
    labelNames: ['type'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly checksRun = new Counter({
    name: 'ha_checks_total',
    help: 'Checks run by the orchestrator by kind and status',
    labelNames: ['kind', 'status'] as const,
    registers: [this.registry],
  });

  readonly dnsQueries = new Counter({
    name: 'ha_dns_queries_total',
    help: 'Embedded DNS queries by rcode',
    labelNames: ['rcode'] as const,
    registers: [this.registry],
  });

  readonly groupsSplit = new Gauge({
    name: 'ha_groups_split',
    help: 'groups whose protected members are active on both sides (production and replica), as of the last check',
    registers: [this.registry],
  });

  readonly stormBrake = new Gauge({
    name: 'ha_storm_brake_engaged',
    help: '1 when automatic failovers are paused by the storm brake',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ha_process_' });
  }
}
