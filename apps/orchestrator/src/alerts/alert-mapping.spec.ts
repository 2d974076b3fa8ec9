import {
  fromAlertmanager,
  fromGeneric,
  instanceHost,
  labelFingerprint,
  mapAlert,
  MappingTopology,
} from './alert-mapping';

const topo: MappingTopology = {
  nodes: [
    { id: 'n1', name: 'db1', address: '10.0.0.1' },
    { id: 'n2', name: 'db2', address: '10.0.0.2' },
    { id: 'n3', name: 'web1', address: '10.0.0.9' },
    { id: 'n4', name: 'web2', address: '10.0.0.9' },
  ],
  scenarios: [{ id: 's1', name: 'orders', activeNodeId: 'n2', nodeIds: ['n1', 'n2'] }],
};

const am = (labels: Record<string, string>, extra: Record<string, unknown> = {}) =>
  fromAlertmanager({ status: 'firing', labels: { alertname: 'Down', ...labels }, ...extra });

describe('alert payloads', () => {
  it('reads an Alertmanager alert: name, severity, summary, zero end time, its fingerprint', () => {
    const a = fromAlertmanager({
      status: 'firing',
      labels: { alertname: 'PostgresDown', severity: 'critical', instance: 'db1:9187' },
      annotations: { summary: 'postgres is down' },
      startsAt: '2026-12-06T10:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      fingerprint: 'abc123',
    });
    expect(a).toMatchObject({
      name: 'PostgresDown',
      status: 'firing',
      severity: 'critical',
      summary: 'postgres is down',
      fingerprint: 'abc123',
      endsAt: null,
    });
    expect(a.startsAt?.toISOString()).toBe('2026-12-06T10:00:00.000Z');
    expect(fromAlertmanager({ status: 'resolved', labels: { alertname: 'X' } }).status).toBe('resolved');
  });

  it('derives a stable fingerprint from the labels when none is sent (label order does not matter)', () => {
    const a = fromAlertmanager({ status: 'firing', labels: { alertname: 'A', b: '1', c: '2' } });
    const b = fromAlertmanager({ status: 'firing', labels: { c: '2', b: '1', alertname: 'A' } });
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(
      fromAlertmanager({ status: 'firing', labels: { alertname: 'A', b: '2', c: '2' } }).fingerprint,
    );
    // no separator confusion: {a:'b\0c'} is not {a:'b', c:''}
    expect(labelFingerprint({ a: 'bc' })).not.toBe(labelFingerprint({ ab: 'c' }));
  });

  it('reads a generic alert: its id as fingerprint, else one over name, node, scenario and labels', () => {
    expect(fromGeneric({ name: 'X', status: 'firing', id: 'k1' }).fingerprint).toBe('k1');
    const x = fromGeneric({ name: 'X', status: 'firing', node: 'db1' });
    const y = fromGeneric({ name: 'X', status: 'firing', node: 'db2' });
    expect(x.fingerprint).not.toBe(y.fingerprint);
    expect(fromGeneric({ name: 'X', status: 'resolved', node: 'db1' }).fingerprint).toBe(x.fingerprint);
  });

  it('strips the port of an instance label, IPv6 too', () => {
    expect(instanceHost('db1:9100')).toBe('db1');
    expect(instanceHost('10.0.0.1')).toBe('10.0.0.1');
    expect(instanceHost('[2001:db8::1]:9100')).toBe('2001:db8::1');
    expect(instanceHost('2001:db8::1')).toBe('2001:db8::1');
  });
});

describe('mapAlert', () => {
  it('maps ha_node, then node, by name or id', () => {
    expect(mapAlert(am({ ha_node: 'db1' }), topo)).toMatchObject({ nodeId: 'n1', scenarioId: null });
    expect(mapAlert(am({ node: 'n2' }), topo)).toMatchObject({ nodeId: 'n2' });
    expect(mapAlert(am({ ha_node: 'db1', node: 'db2' }), topo).nodeId).toBe('n1');
  });

  it('maps instance by node name, then by a unique address', () => {
    expect(mapAlert(am({ instance: 'db1:9100' }), topo)).toMatchObject({ nodeId: 'n1' });
    expect(mapAlert(am({ instance: '10.0.0.2:9100' }), topo)).toMatchObject({ nodeId: 'n2' });
    const shared = mapAlert(am({ instance: '10.0.0.9:80' }), topo);
    expect(shared.nodeId).toBeNull();
    expect(shared.mapping).toMatch(/2 nodes have that address/);
    expect(mapAlert(am({ instance: 'nowhere:1' }), topo).mapping).toMatch(/matches no node/);
  });

  it('an explicit node label that names no node maps to nothing (no fall back to instance)', () => {
    const m = mapAlert(am({ ha_node: 'ghost', instance: 'db1:9100' }), topo);
    expect(m).toMatchObject({ nodeId: null, scenarioId: null });
    expect(m.mapping).toMatch(/no node named "ghost"/);
  });

  it('a scenario alone means its active node now', () => {
    const m = mapAlert(am({ ha_scenario: 'orders' }), topo);
    expect(m).toMatchObject({ nodeId: 'n2', scenarioId: 's1' });
    expect(m.mapping).toMatch(/active node db2/);
  });

  it('a scenario with one of its nodes keeps both; a node outside it or an unknown scenario maps to nothing', () => {
    expect(mapAlert(am({ ha_scenario: 's1', ha_node: 'db1' }), topo)).toMatchObject({
      nodeId: 'n1',
      scenarioId: 's1',
    });
    expect(mapAlert(am({ ha_scenario: 'orders', ha_node: 'web1' }), topo)).toMatchObject({
      nodeId: null,
      scenarioId: null,
    });
    expect(mapAlert(am({ ha_scenario: 'nope', ha_node: 'db1' }), topo).mapping).toMatch(
      /no scenario named "nope"/,
    );
  });

  it('the generic format names its node and scenario outside the labels', () => {
    expect(mapAlert(fromGeneric({ name: 'X', status: 'firing', node: 'db1' }), topo).nodeId).toBe('n1');
    expect(mapAlert(fromGeneric({ name: 'X', status: 'firing', scenario: 'orders' }), topo).nodeId).toBe(
      'n2',
    );
  });

  it('no label to map by', () => {
    expect(mapAlert(am({ job: 'x' }), topo)).toMatchObject({
      nodeId: null,
      mapping: expect.stringMatching(/no ha_node/),
    });
  });
});
