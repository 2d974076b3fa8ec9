import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_DEFAULTS, loadConfig, parseConfig } from './config';
import { ConfigError } from './errors';

const valid = () => ({
  nodeId: '6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7',
  nodeName: 'db-1',
  orchestrators: ['http://127.0.0.1:8080/', 'https://orch.example.com'],
  token: 'agent-token-0123',
  actionToken: 'action-token-0123',
  listen: { host: '127.0.0.10', port: 7400 },
  checks: [
    {
      name: 'disk',
      command: '/usr/lib/nagios/check_disk',
      args: ['-w', '10%'],
      timeoutMs: 2000,
      intervalMs: 5000,
    },
  ],
  actions: {
    promote: { command: '/opt/ha/promote.sh' },
    demote: { command: '/opt/ha/demote.sh', args: ['--now'], timeoutMs: 10_000 },
  },
});

function errorOf(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('applies defaults in one place', () => {
    const config = parseConfig(valid());
    expect(config.heartbeatIntervalMs).toBe(CONFIG_DEFAULTS.heartbeatIntervalMs);
    expect(config.peerTimeoutMs).toBe(3 * CONFIG_DEFAULTS.heartbeatIntervalMs);
    expect(config.defaultLeaseMs).toBe(CONFIG_DEFAULTS.defaultLeaseMs);
    expect(config.stateFile).toMatch(/\/db-1\.agent-state\.json$/);
    expect(config.orchestrators).toEqual(['http://127.0.0.1:8080', 'https://orch.example.com']);
    expect(config.actions.promote).toEqual({
      command: '/opt/ha/promote.sh',
      args: [],
      timeoutMs: 30_000,
      batch: false,
    });
    expect(config.actions.demote).toEqual({
      command: '/opt/ha/demote.sh',
      args: ['--now'],
      timeoutMs: 10_000,
      batch: false,
    });
    // `batch: true` makes one run serve every scenario asking at once; anything but a boolean is refused.
    const batched = parseConfig({
      ...valid(),
      actions: { promote: { command: '/opt/ha/promote-all.sh', batch: true } },
    });
    expect(batched.actions.promote).toMatchObject({ batch: true });
    expect(() =>
      parseConfig({ ...valid(), actions: { promote: { command: '/opt/ha/p.sh', batch: 'yes' } } }),
    ).toThrow(/batch must be a boolean/);
    expect(config.checks[0]).toMatchObject({ name: 'disk', timeoutMs: 2000, intervalMs: 5000 });
  });

  it('derives peerTimeoutMs from the heartbeat interval', () => {
    expect(parseConfig({ ...valid(), heartbeatIntervalMs: 200 }).peerTimeoutMs).toBe(600);
  });

  it.each([
    [{ nodeId: 'not-a-uuid' }, /^nodeId must be a UUID/],
    [{ nodeName: 'a b' }, /^nodeName must be/],
    [{ orchestrators: [] }, /^orchestrators must contain at least 1 elements/],
    [{ orchestrators: ['127.0.0.1:8080'] }, /^orchestrators must be a list of http\(s\) base URLs/],
    [{ token: 'short' }, /^token must be longer than or equal to 8 characters/],
    [{ listen: { host: '127.0.0.1', port: 70000 } }, /^listen\.port must not be greater than 65535/],
    [{ listen: { host: '127.0.0.1' } }, /^listen\.port must be an integer/],
    [{ heartbeatIntervalMs: 10 }, /^heartbeatIntervalMs must not be less than 50/],
    [
      { heartbeatIntervalMs: 1000, peerTimeoutMs: 500 },
      /^peerTimeoutMs must be greater than heartbeatIntervalMs/,
    ],
    [{ defaultLeaseMs: 500 }, /^defaultLeaseMs must be greater than heartbeatIntervalMs/],
    [
      { checks: [{ name: 'x', command: '/bin/true', timeoutMs: 'soon' }] },
      /^checks\[0\]\.timeoutMs must be an integer/,
    ],
    [{ checks: [{ name: 'x', command: '/bin/true', args: 'a b' }] }, /^checks\[0\]\.args must be an array/],
    [
      {
        checks: [
          { name: 'x', command: '/bin/true' },
          { name: 'x', command: '/bin/true' },
        ],
      },
      /^checks\[1\]\.name 'x' is used twice/,
    ],
    [{ actions: { reboot: { command: '/sbin/reboot' } } }, /^actions\.reboot is not an agent action/],
    [{ actions: { promote: { command: '' } } }, /^actions\.promote\.command should not be empty/],
    [
      { actions: { promote: { command: '/x', shell: true } } },
      /^property actions\.promote\.shell|^actions\.promote\.shell is not a known field/,
    ],
    [{ replicaLag: { args: [] } }, /^replicaLag\.command must be a string/],
    [{ colour: 'blue' }, /^colour is not a known field/],
    // Before, a config without `listen` passed validation and crashed the agent at start.
    [{ listen: undefined }, /^listen must be an object/],
    [{ listen: { host: '', port: 1 } }, /^listen\.host should not be empty/],
    [{ listen: { host: 'h', port: 1, tls: true } }, /^listen\.tls is not a known field/],
    [{ orchestrators: 'http://127.0.0.1:8080' }, /^orchestrators must be an array/],
    [
      { orchestrators: Array.from({ length: 17 }, () => 'http://a:1') },
      /^orchestrators must contain no more than 16/,
    ],
    [{ orchestrators: [7] }, /^orchestrators must be a list of http\(s\) base URLs/],
    [{ token: 7 }, /^token must be a string/],
    [{ token: 'x'.repeat(4097) }, /^token must be shorter than or equal to 4096 characters/],
    [{ heartbeatIntervalMs: 1.5 }, /^heartbeatIntervalMs must be an integer number/],
    [{ udpHeartbeats: 'yes' }, /^udpHeartbeats must be a boolean value/],
    [{ udpFullEveryMs: 999 }, /^udpFullEveryMs must not be less than 1000/],
    [{ logLevel: 'loud' }, /^logLevel must be one of the following values: fatal, error/],
    [{ checks: { name: 'x' } }, /^checks must be an array/],
    [{ checks: ['x'] }, /^checks\[0\] must be an object/],
    [
      { checks: Array.from({ length: 65 }, (_, i) => ({ name: `c${i}`, command: '/bin/true' })) },
      /^checks must contain no more than 64/,
    ],
    [{ checks: [{ name: '-x', command: '/bin/true' }] }, /^checks\[0\]\.name must be 1-64 characters/],
    [
      { checks: [{ name: 'x', command: '/bin/true', args: ['a', 2] }] },
      /^checks\[0\]\.args\[1\] must be a string/,
    ],
    [
      { checks: [{ name: 'x', command: '/bin/true', intervalMs: 50 }] },
      /^checks\[0\]\.intervalMs must not be less than 100/,
    ],
    [
      { checks: [{ name: 'x', command: '/bin/true', shell: 'sh' }] },
      /^checks\[0\]\.shell is not a known field/,
    ],
    [{ actions: ['promote'] }, /^actions must be an object/],
    [{ actions: { promote: '/opt/ha/promote.sh' } }, /^actions\.promote must be a JSON object/],
    [
      { actions: { promote: { command: '/x', timeoutMs: 3_600_001 } } },
      /^actions\.promote\.timeoutMs must not be greater than 3600000/,
    ],
    [
      { actions: { promote: { command: '/x', args: Array.from({ length: 65 }, () => 'a') } } },
      /^actions\.promote\.args must contain no more than 64/,
    ],
    [{ replicaLag: { command: '/x', intervalMs: 99 } }, /^replicaLag\.intervalMs must not be less than 100/],
    [{ watchdog: { pidFiles: [''] } }, /^watchdog\.pidFiles\[0\] should not be empty/],
    [
      { watchdog: { pidFiles: Array.from({ length: 17 }, () => '/p') } },
      /^watchdog\.pidFiles must contain no more than 16/,
    ],
    [{ watchdog: { command: { args: [] } } }, /^watchdog\.command\.command must be a string/],
    [
      { watchdog: { signal: 'SIGHUP' } },
      /^watchdog\.signal must be one of the following values: SIGKILL, SIGTERM/,
    ],
    [{ watchdog: { pidFiles: ['/p'], device: '/dev/watchdog' } }, /^watchdog\.device is not a known field/],
    [{ watchdog: {} }, /^watchdog needs pidFiles or a command/],
  ])('rejects %j with a message naming the field', (patch, expected) => {
    expect(errorOf({ ...valid(), ...patch })).toMatch(expected);
  });

  it('names a missing required field', () => {
    const raw: Record<string, unknown> = valid();
    delete raw.actionToken;
    expect(errorOf(raw)).toMatch(/^actionToken must be/);
  });

  it('refuses a config that is not a mapping', () => {
    expect(errorOf(['a'])).toBe('config must be a mapping of fields');
    expect(errorOf(null)).toBe('config must be a mapping of fields');
  });

  it('takes null for an optional field (an empty YAML value) as its default', () => {
    expect(parseConfig({ ...valid(), heartbeatIntervalMs: null, checks: null }).heartbeatIntervalMs).toBe(
      CONFIG_DEFAULTS.heartbeatIntervalMs,
    );
  });

  it('messages are one line', () => {
    expect(errorOf({ ...valid(), listen: 'x' })).not.toContain('\n');
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  it('reads YAML unless the name ends in .json, and names a syntax error', () => {
    const yaml = Object.entries(valid())
      .filter(([key]) => ['nodeId', 'nodeName', 'token', 'actionToken'].includes(key))
      .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
      .join('\n');
    const text = `${yaml}\norchestrators: [http://127.0.0.1:8080]\nlisten: { host: 127.0.0.10, port: 7400 }\n`;
    expect(loadConfig(write('a.yaml', text)).nodeName).toBe('db-1');
    expect(loadConfig(write('a.json', JSON.stringify(valid()))).nodeName).toBe('db-1');
    expect(() => loadConfig(write('b.yaml', 'nodeId: [\n'))).toThrow(/is not valid YAML/);
    expect(() => loadConfig(write('b.json', '{"nodeId":'))).toThrow(/is not valid JSON/);
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(/cannot read config file .*ENOENT/);
  });
});
