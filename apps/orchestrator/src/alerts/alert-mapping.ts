/**
 * External alerts in (pure logic): the two payload formats the receiver takes, turned into one
 * shape, and the label mapping from an alert to the node (and scenario) it is about.
 *
 * Mapping, first match wins (docs/alerts.md):
 * - scenario: the generic format's `scenario`, else the label `ha_scenario` (name or id);
 * - node: the generic format's `node`, else the label `ha_node`, else `node` (name or id); else the
 *   label `instance` with its port removed (`db1:9100`, `[2001:db8::1]:9100`), matched against node
 *   names, then node addresses (one node only: an address two nodes share maps to neither);
 * - a scenario without a node means the scenario's active node when the alert starts firing;
 * - a node that is not a member of the named scenario, an unknown node or an unknown scenario named
 *   explicitly: the alert is kept and announced, but counts against no node (`mapped` false).
 */
import { createHash } from 'node:crypto';

export const ALERT_SOURCES = ['alertmanager', 'generic'] as const;
export type AlertSource = (typeof ALERT_SOURCES)[number];
export type AlertStatus = 'firing' | 'resolved';

/** One alert as received, in either format. */
export interface IncomingAlert {
  fingerprint: string;
  name: string;
  status: AlertStatus;
  severity: string | null;
  summary: string | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: Date | null;
  endsAt: Date | null;
  /** the generic format's explicit targets */
  node?: string;
  scenario?: string;
}

export interface AlertmanagerAlert {
  status: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  fingerprint?: string;
}

export interface GenericAlert {
  name: string;
  status: AlertStatus;
  id?: string;
  node?: string;
  scenario?: string;
  severity?: string;
  summary?: string;
  labels?: Record<string, string>;
  startsAt?: string;
}

/** Alertmanager sends the zero time for "not set". */
function time(v: string | undefined): Date | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1970 ? null : d;
}

/** A stable key from the labels, for alerts that come without one. */
export function labelFingerprint(parts: Record<string, string | undefined>): string {
  const keys = Object.keys(parts)
    .filter((k) => parts[k] !== undefined)
    .sort();
  const h = createHash('sha256');
  for (const k of keys) h.update(`${k}\u0000${parts[k]}\u0000`);
  return h.digest('hex').slice(0, 32);
}

export function fromAlertmanager(a: AlertmanagerAlert): IncomingAlert {
  const labels = a.labels;
  const annotations = a.annotations ?? {};
  return {
    fingerprint: a.fingerprint || labelFingerprint(labels),
    name: labels.alertname ?? 'unnamed',
    status: a.status === 'resolved' ? 'resolved' : 'firing',
    severity: labels.severity?.slice(0, 64) ?? null,
    summary: annotations.summary ?? annotations.description ?? null,
    labels,
    annotations,
    startsAt: time(a.startsAt),
    endsAt: time(a.endsAt),
  };
}

export function fromGeneric(a: GenericAlert): IncomingAlert {
  const labels = a.labels ?? {};
  return {
    fingerprint:
      a.id ??
      labelFingerprint({
        ...labels,
        '\u0000name': a.name,
        '\u0000node': a.node,
        '\u0000scenario': a.scenario,
      }),
    name: a.name,
    status: a.status,
    severity: (a.severity ?? labels.severity)?.slice(0, 64) ?? null,
    summary: a.summary ?? null,
    labels,
    annotations: {},
    startsAt: time(a.startsAt),
    endsAt: null,
    node: a.node,
    scenario: a.scenario,
  };
}

/** What the mapping needs to know of the topology. */
export interface MappingTopology {
  nodes: { id: string; name: string; address: string }[];
  /** movedAt: when users last moved (a failover, switchover or failback finished), if known */
  scenarios: { id: string; name: string; activeNodeId: string; nodeIds: string[]; movedAt?: number | null }[];
}

export interface AlertTarget {
  nodeId: string | null;
  scenarioId: string | null;
  /** how the target was found, or why there is none (shown in the API and the event) */
  mapping: string;
}

/** `db1:9100` → db1, `[2001:db8::1]:9100` → 2001:db8::1, `2001:db8::1` stays. */
export function instanceHost(instance: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(instance);
  if (v6) return v6[1];
  const colons = instance.split(':').length - 1;
  return colons === 1 ? instance.slice(0, instance.indexOf(':')) : instance;
}

/**
 * Whether a firing alert says its node is down (a vote in detection): label `ha_vote` "true" or
 * "false" decides; without it, severity `critical` votes and anything milder (a warning about load
 * or disk) does not.
 */
export function isVote(a: Pick<IncomingAlert, 'labels' | 'severity'>): boolean {
  const v = a.labels.ha_vote;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return a.severity === 'critical';
}

export function mapAlert(a: IncomingAlert, topo: MappingTopology): AlertTarget {
  const scenarioRef = a.scenario ?? a.labels.ha_scenario;
  const scenario =
    scenarioRef === undefined
      ? undefined
      : topo.scenarios.find((s) => s.name === scenarioRef || s.id === scenarioRef);
  if (scenarioRef !== undefined && !scenario)
    return { nodeId: null, scenarioId: null, mapping: `no scenario named ${JSON.stringify(scenarioRef)}` };

  const nodeRef = a.node ?? a.labels.ha_node ?? a.labels.node;
  let node: { id: string; name: string } | undefined;
  let how = '';
  if (nodeRef !== undefined) {
    node = topo.nodes.find((n) => n.name === nodeRef || n.id === nodeRef);
    if (!node) return { nodeId: null, scenarioId: null, mapping: `no node named ${JSON.stringify(nodeRef)}` };
    how = `node ${node.name}`;
  } else if (a.labels.instance !== undefined) {
    const host = instanceHost(a.labels.instance);
    node = topo.nodes.find((n) => n.name === host);
    if (node) how = `instance ${a.labels.instance} → node ${node.name}`;
    else {
      const byAddress = topo.nodes.filter((n) => n.address === host);
      if (byAddress.length === 1) {
        node = byAddress[0];
        how = `instance ${a.labels.instance} → address of node ${node.name}`;
      } else if (!scenario)
        return {
          nodeId: null,
          scenarioId: null,
          mapping:
            byAddress.length > 1
              ? `instance ${a.labels.instance}: ${byAddress.length} nodes have that address`
              : `instance ${a.labels.instance} matches no node name or address`,
        };
    }
  }
  if (scenario) {
    if (!node) {
      const active = topo.nodes.find((n) => n.id === scenario.activeNodeId);
      // It started before users last moved: it is about the node they were on then, not this one.
      if (a.startsAt && scenario.movedAt && a.startsAt.getTime() < scenario.movedAt)
        return {
          nodeId: null,
          scenarioId: null,
          mapping:
            `scenario ${scenario.name}: the alert started before users last moved ` +
            `(${new Date(scenario.movedAt).toISOString()}), so its node is not known; label the node (ha_node)`,
        };
      return {
        nodeId: scenario.activeNodeId,
        scenarioId: scenario.id,
        mapping: `scenario ${scenario.name} → its active node ${active?.name ?? scenario.activeNodeId}`,
      };
    }
    if (!scenario.nodeIds.includes(node.id))
      return {
        nodeId: null,
        scenarioId: null,
        mapping: `${how} is not a node of scenario ${scenario.name}`,
      };
    return { nodeId: node.id, scenarioId: scenario.id, mapping: `${how}, scenario ${scenario.name}` };
  }
  if (!node)
    return {
      nodeId: null,
      scenarioId: null,
      mapping: 'no ha_node, node, instance or ha_scenario label',
    };
  return { nodeId: node.id, scenarioId: null, mapping: how };
}
