import { loadConfig } from './app-config';

describe('loadConfig', () => {
  it('uses documented defaults', () => {
    const c = loadConfig({});
    expect(c.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/ha');
    expect(c.HTTP_PORT).toBe(8080);
    expect(c.DNS_PORT).toBe(5353);
    expect([...c.roles].sort()).toEqual(['api', 'detector', 'dns', 'worker']);
  });

  it('names the bad variable', () => {
    expect(() => loadConfig({ HTTP_PORT: 'eighty' })).toThrow(/HTTP_PORT must be an integer/);
    expect(() => loadConfig({ HTTP_PORT: '70000' })).toThrow(/HTTP_PORT/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ ADMIN_TOKEN: 'short' })).toThrow(/ADMIN_TOKEN/);
    expect(() => loadConfig({ ORCHESTRATOR_ROLES: 'api,cook' })).toThrow(/ORCHESTRATOR_ROLES/);
  });

  it('requires the RFC 2136 settings with that provider', () => {
    expect(() => loadConfig({ DNS_PROVIDER: 'rfc2136' })).toThrow(/RFC2136_SERVER/);
  });

  it('parses integers', () => {
    expect(loadConfig({ HTTP_PORT: '9090' }).HTTP_PORT).toBe(9090);
  });
});
