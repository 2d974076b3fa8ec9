import { ConfigError, loadConfig, parseHostPort } from './app-config';

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

  describe('PowerDNS', () => {
    const pdns = {
      DNS_PROVIDER: 'powerdns',
      PDNS_API_URL: 'http://127.0.0.1:8081',
      PDNS_API_KEY: 'k3y-not-for-logs',
      PDNS_QUERY_SERVER: '127.0.0.1:53',
    };
    const refusal = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return error as ConfigError;
      }
      throw new Error('accepted');
    };

    it('takes the settings with their defaults', () => {
      const c = loadConfig(pdns);
      expect(c.DNS_PROVIDER).toBe('powerdns');
      expect(c.PDNS_API_URL).toBe('http://127.0.0.1:8081');
      expect(c.PDNS_API_KEY).toBe('k3y-not-for-logs');
      expect(c.PDNS_SERVER_ID).toBe('localhost');
      expect(c.PDNS_TIMEOUT_MS).toBe(3000);
      expect(loadConfig({ ...pdns, PDNS_SERVER_ID: 'ns1', PDNS_TIMEOUT_MS: '500' })).toMatchObject({
        PDNS_SERVER_ID: 'ns1',
        PDNS_TIMEOUT_MS: 500,
      });
    });

    it.each(['PDNS_API_URL', 'PDNS_API_KEY', 'PDNS_QUERY_SERVER'])('requires %s', (key) => {
      const error = refusal({ ...pdns, [key]: '' });
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.variable).toBe(key);
      expect(error.message).toBe(`invalid configuration: ${key} is required when DNS_PROVIDER=powerdns`);
    });

    it('does not ask for them with another provider', () => {
      expect(loadConfig({ DNS_PROVIDER: 'embedded' }).PDNS_API_URL).toBeUndefined();
    });

    it.each([
      ['PDNS_API_URL', 'ftp://127.0.0.1'],
      ['PDNS_API_URL', 'http://admin:pw@127.0.0.1:8081'],
      ['PDNS_API_URL', 'http://127.0.0.1:8081/?x=1'],
      ['PDNS_QUERY_SERVER', '127.0.0.1'],
      ['PDNS_QUERY_SERVER', '127.0.0.1:70000'],
      ['PDNS_SERVER_ID', 'local/host'],
      ['PDNS_TIMEOUT_MS', '10'],
    ])('names %s when it is %s', (key, value) => {
      expect(refusal({ ...pdns, [key]: value }).variable).toBe(key);
    });

    it('refuses an API key that cannot travel in a header, without repeating it', () => {
      const error = refusal({ ...pdns, PDNS_API_KEY: 'two words' });
      expect(error.variable).toBe('PDNS_API_KEY');
      expect(error.message).not.toContain('two words');
    });

    it('splits the query server into host and port', () => {
      expect(parseHostPort('127.0.0.31:15310')).toEqual({ host: '127.0.0.31', port: 15310 });
      expect(parseHostPort('[::1]:53')).toEqual({ host: '::1', port: 53 });
      expect(loadConfig({ ...pdns, PDNS_QUERY_SERVER: '[::1]:53' }).PDNS_QUERY_SERVER).toBe('[::1]:53');
    });
  });

  it('parses integers', () => {
    expect(loadConfig({ HTTP_PORT: '9090' }).HTTP_PORT).toBe(9090);
  });
});
