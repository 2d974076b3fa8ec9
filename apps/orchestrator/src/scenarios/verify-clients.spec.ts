import { InvalidInputError } from '../common/errors';
import { normalizeVerifyClients, parseProbeTarget, parseResolver } from './verify-clients';
import { ScenarioDnsRecord } from './scenario.types';

const records: ScenarioDnsRecord[] = [
  { zone: 'ha.test', name: 'app.ha.test', type: 'A', ttl: 5 },
  { zone: 'ha.test', name: 'alias.ha.test', type: 'CNAME', ttl: 5 },
];

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidInputError) return err.field;
    throw err;
  }
  return undefined;
}

describe('verifyClients settings', () => {
  it('parses resolver addresses: IPv4 or IPv6 literal, port 53 by default', () => {
    expect(parseResolver('10.0.0.53')).toEqual({ host: '10.0.0.53', port: 53 });
    expect(parseResolver('127.0.0.1:15970')).toEqual({ host: '127.0.0.1', port: 15970 });
    expect(parseResolver('[::1]:5353')).toEqual({ host: '::1', port: 5353 });
    expect(parseResolver('2001:db8::53')).toEqual({ host: '2001:db8::53', port: 53 });
    for (const bad of [
      'dns.example',
      '10.0.0.300:53',
      '10.0.0.1:0',
      '10.0.0.1:70000',
      '10.0.0.1:',
      '[::g]:53',
      '',
    ]) {
      expect(typeof parseResolver(bad)).toBe('string');
    }
  });

  it('parses probe targets: tcp name:port, http(s) URL with a DNS name as host', () => {
    expect(parseProbeTarget('tcp', 'App.ha.test:443')).toEqual({ host: 'app.ha.test', port: 443 });
    expect(parseProbeTarget('http', 'https://app.ha.test/health')).toMatchObject({
      host: 'app.ha.test',
      port: 443,
    });
    expect(parseProbeTarget('http', 'http://app.ha.test:8080/')).toMatchObject({ port: 8080 });
    expect(typeof parseProbeTarget('tcp', 'app.ha.test')).toBe('string');
    expect(typeof parseProbeTarget('http', 'ftp://app.ha.test/')).toBe('string');
    expect(typeof parseProbeTarget('http', 'http://10.0.0.1/')).toBe('string');
  });

  it('fills the defaults and formats resolvers', () => {
    expect(
      normalizeVerifyClients(
        { resolvers: ['127.0.0.1', '[::1]:53'], probe: { kind: 'tcp', target: 'app.ha.test:80' } },
        records,
      ),
    ).toEqual({
      resolvers: ['127.0.0.1:53', '[::1]:53'],
      probe: { kind: 'tcp', target: 'app.ha.test:80', timeoutMs: 2000 },
      marginMs: 2000,
      graceMs: 10000,
    });
  });

  it('names the bad field', () => {
    expect(
      fieldOf(() => normalizeVerifyClients({ resolvers: ['127.0.0.1', 'resolver.example'] }, records)),
    ).toBe('policy.verifyClients.resolvers[1]');
    expect(fieldOf(() => normalizeVerifyClients({ resolvers: ['127.0.0.1:53', '127.0.0.1'] }, records))).toBe(
      'policy.verifyClients.resolvers[1]',
    );
    expect(
      fieldOf(() =>
        normalizeVerifyClients(
          { resolvers: ['127.0.0.1'], probe: { kind: 'tcp', target: 'other.ha.test:80' } },
          records,
        ),
      ),
    ).toBe('policy.verifyClients.probe.target');
    // a CNAME name resolves to someone else's address: not a probe target
    expect(
      fieldOf(() =>
        normalizeVerifyClients(
          { resolvers: ['127.0.0.1'], probe: { kind: 'http', target: 'http://alias.ha.test/' } },
          records,
        ),
      ),
    ).toBe('policy.verifyClients.probe.target');
  });
});
