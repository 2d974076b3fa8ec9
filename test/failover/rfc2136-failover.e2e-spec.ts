import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startNamed, NamedServer } from '../dns/named.helper';
import { Cluster, RECORD, ZONE } from '../support/cluster';

/** The whole failover with DNS_PROVIDER=rfc2136 against a real BIND started by this test. */
describe('failover through RFC 2136 dynamic update (real BIND named, TSIG HMAC-SHA256)', () => {
  const NAMED_PORT = 15390;
  const key = { name: 'ha-orchestrator', secretBase64: randomBytes(32).toString('base64') };
  let named: NamedServer;
  let c: Cluster;

  beforeAll(async () => {
    named = await startNamed({ port: NAMED_PORT, zone: ZONE, updateKeys: [key] });
    c = new Cluster({
      label: 'rfc2136',
      addressPrefix: '127.0.0.11',
      agentPort: 17390,
      dnsPort: NAMED_PORT, // Cluster.dnsAnswer() asks BIND
      failoverMode: 'auto',
      orchestratorEnv: {
        DNS_PROVIDER: 'rfc2136',
        RFC2136_SERVER: '127.0.0.1',
        RFC2136_PORT: String(NAMED_PORT),
        RFC2136_KEY_NAME: key.name,
        RFC2136_KEY_SECRET: key.secretBase64,
      },
    });
    await c.start(); // start writes production's address into BIND
  });
  afterAll(async () => {
    await c?.close();
    await named?.stop();
  });

  const dig = () =>
    execFileSync('dig', [
      '@127.0.0.1',
      '-p',
      String(NAMED_PORT),
      RECORD,
      'A',
      '+short',
      '+time=1',
      '+tries=2',
    ])
      .toString()
      .trim();

  it('kill -9 of production → BIND answers the replica; the epoch marker is written with it', async () => {
    expect(dig()).toBe(c.production.address);
    await c.production.agent!.kill();
    await c.waitDns(c.replica.address, 30000);
    expect(dig()).toBe(c.replica.address);
    const marker = execFileSync('dig', [
      '@127.0.0.1',
      '-p',
      String(NAMED_PORT),
      `_ha-epoch.${RECORD}`,
      'TXT',
      '+short',
    ])
      .toString()
      .trim();
    expect(marker).toContain('epoch=2');
    const ops = await c.operations();
    const failover = await c.waitOperation(ops.find((o) => o.type === 'failover').id);
    expect(failover.state).toBe('succeeded');
    expect(failover.steps.find((s: { name: string }) => s.name === 'verify-dns').output.provider).toBe(
      'rfc2136',
    );
  });
});
