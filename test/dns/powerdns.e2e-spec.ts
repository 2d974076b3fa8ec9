/**
 * The PowerDNS provider against a real pdns_server (gsqlite3 backend, HTTP API): writes go through
 * the API, users (dig, dns2) see them on the DNS port, stale epochs and bad keys are refused with
 * typed errors; then a whole failover with DNS_PROVIDER=powerdns and real agents.
 * Addresses 127.0.0.31-33, ports 15310 (DNS), 18310 (API), 18311 (agents) belong to this file.
 */
import { ConflictError, StaleEpochError } from '../../apps/orchestrator/src/common/errors';
import { DnsRecordWrite } from '../../apps/orchestrator/src/dns/dns-provider.interface';
import { PowerDnsApiError } from '../../apps/orchestrator/src/dns/powerdns/powerdns-api.error';
import {
  PowerDnsProvider,
  PowerDnsProviderConfig,
} from '../../apps/orchestrator/src/dns/powerdns/powerdns.provider';
import { Cluster, RECORD, ZONE } from '../support/cluster';
import { dig } from './dig.helper';
import { pdnsApi, PdnsServer, startPdns } from './pdns.helper';

jest.setTimeout(120_000);

const ADDRESS = '127.0.0.31';
const DNS_PORT = 15310;
const API_PORT = 18310;
const AGENT_PORT = 18311;
const ZONE_A = 'example.test';
const ZONE_B = 'other.test';

const write = (overrides: Partial<DnsRecordWrite> = {}): DnsRecordWrite => ({
  zone: ZONE_A,
  name: 'app.example.test',
  type: 'A',
  ttl: 30,
  value: '10.0.0.1',
  epoch: 1,
  scenarioId: 'scenario-1',
  ...overrides,
});

const answers = async (name: string, type: string, tcp = false) =>
  (await dig(DNS_PORT, name, type, { tcp, server: ADDRESS })).answer.map((r) => r.data);

describe('PowerDNS provider against a real pdns_server (e2e)', () => {
  let pdns: PdnsServer | undefined;
  let provider: PowerDnsProvider;

  const config = (overrides: Partial<PowerDnsProviderConfig> = {}): PowerDnsProviderConfig => ({
    apiUrl: pdns!.apiUrl,
    apiKey: pdns!.apiKey,
    serverId: 'localhost',
    timeoutMs: 3000,
    queryServer: { host: ADDRESS, port: DNS_PORT },
    ...overrides,
  });

  /** The RRset as the API holds it (records' content), or undefined. */
  const stored = async (zone: string, name: string, type: string) => {
    const res = await pdnsApi(pdns!, 'GET', `/zones/${zone}.?rrset_name=${name}.&rrset_type=${type}`);
    expect(res.status).toBe(200);
    const { rrsets } = res.body as {
      rrsets: { name: string; type: string; records: { content: string }[] }[];
    };
    const rrset = rrsets.find((r) => r.name === `${name}.` && r.type === type);
    return rrset?.records.map((r) => r.content);
  };

  beforeAll(async () => {
    pdns = await startPdns({
      address: ADDRESS,
      dnsPort: DNS_PORT,
      apiPort: API_PORT,
      zones: [ZONE_A, ZONE_B, ZONE],
    });
    provider = new PowerDnsProvider(config());
  });

  afterAll(async () => {
    await pdns?.stop();
  });

  describe('provider', () => {
    it('applies an A record that dig (UDP and TCP) and dns2 then see, with its epoch marker', async () => {
      expect(await answers('app.example.test', 'A')).toEqual([]);
      await provider.apply(write({ value: '10.0.0.1', epoch: 1 }));
      expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.1']);
      expect(await answers('app.example.test', 'A', true)).toEqual(['10.0.0.1']);
      expect(await provider.query(write())).toEqual(['10.0.0.1']);
      expect(await answers('_ha-epoch.app.example.test', 'TXT')).toEqual(['"epoch=1 scenario=scenario-1"']);
      expect(await stored(ZONE_A, '_ha-epoch.app.example.test', 'TXT')).toEqual([
        '"epoch=1 scenario=scenario-1"',
      ]);
      const ttl = (await dig(DNS_PORT, 'app.example.test', 'A', { server: ADDRESS })).answer[0].ttl;
      expect(ttl).toBe(30);
    });

    it('moves the record on a newer epoch at once (answer cached just before), replacing the RRset', async () => {
      expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.1']); // now in the packet cache
      await provider.apply(write({ value: '10.0.0.2', epoch: 2 }));
      expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.2']);
      expect(await stored(ZONE_A, 'app.example.test', 'A')).toEqual(['10.0.0.2']);
      expect(await answers('_ha-epoch.app.example.test', 'TXT')).toEqual(['"epoch=2 scenario=scenario-1"']);
      // The same epoch may write again (an operation retrying its step).
      await provider.apply(write({ value: '10.0.0.3', epoch: 2 }));
      expect(await provider.query(write())).toEqual(['10.0.0.3']);
    });

    it('refuses a stale epoch (lower than the TXT marker) and leaves the record unchanged', async () => {
      const error = await provider.apply(write({ value: '10.6.6.6', epoch: 1 })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StaleEpochError);
      expect(error).toMatchObject({ current: 2, attempted: 1, retryable: false });
      expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.3']);
      expect(await answers('_ha-epoch.app.example.test', 'TXT')).toEqual(['"epoch=2 scenario=scenario-1"']);
    });

    it('refuses a write over a record marked by another scenario', async () => {
      await expect(provider.apply(write({ scenarioId: 'scenario-2', epoch: 9 }))).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.3']);
    });

    it('applyMany writes records of two zones (one PATCH each), a stale one left out and reported', async () => {
      const error = await provider
        .applyMany([
          write({ name: 'a.example.test', value: '10.1.0.1', epoch: 4 }),
          write({ zone: ZONE_B, name: 'b.other.test', value: '10.2.0.1', epoch: 4 }),
          write({ zone: ZONE_B, name: 'c.other.test', type: 'AAAA', value: '2001:DB8::c', epoch: 4 }),
          write({ name: 'app.example.test', value: '10.6.6.6', epoch: 1 }),
        ])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StaleEpochError);
      expect(await answers('a.example.test', 'A')).toEqual(['10.1.0.1']);
      expect(await answers('b.other.test', 'A')).toEqual(['10.2.0.1']);
      expect(await answers('c.other.test', 'AAAA')).toEqual(['2001:db8::c']);
      expect(await answers('_ha-epoch.b.other.test', 'TXT')).toEqual(['"epoch=4 scenario=scenario-1"']);
      expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.3']);

      await provider.applyMany([
        write({ name: 'a.example.test', value: '10.1.0.2', epoch: 5 }),
        write({ zone: ZONE_B, name: 'b.other.test', value: '10.2.0.2', epoch: 5 }),
      ]);
      expect(await answers('a.example.test', 'A')).toEqual(['10.1.0.2']);
      expect(await answers('b.other.test', 'A')).toEqual(['10.2.0.2']);
    });

    it('writes CNAME records (target absolute), a CNAME displacing the address records at its name', async () => {
      await provider.apply(
        write({ name: 'www.example.test', type: 'CNAME', value: 'app.example.test', epoch: 1 }),
      );
      expect(await answers('www.example.test', 'CNAME', true)).toEqual(['app.example.test.']);
      expect(await stored(ZONE_A, 'www.example.test', 'CNAME')).toEqual(['app.example.test.']);
      expect(await provider.query(write({ name: 'www.example.test', type: 'CNAME' }))).toEqual([
        'app.example.test',
      ]);
      // A user asking for the address follows the chain.
      expect(await answers('www.example.test', 'A')).toEqual(['app.example.test.', '10.0.0.3']);

      await provider.apply(write({ name: 'v6.example.test', type: 'AAAA', value: '2001:db8::42', epoch: 1 }));
      expect(await answers('v6.example.test', 'AAAA')).toEqual(['2001:db8::42']);
      await provider.apply(
        write({ name: 'v6.example.test', type: 'CNAME', value: 'app.example.test.', epoch: 2 }),
      );
      expect(await answers('v6.example.test', 'CNAME')).toEqual(['app.example.test.']);
      expect(await stored(ZONE_A, 'v6.example.test', 'AAAA')).toBeUndefined();
      expect(await provider.query(write({ name: 'v6.example.test', type: 'AAAA' }))).toEqual([]);
      // And back: an address record displaces the CNAME.
      await provider.apply(write({ name: 'v6.example.test', type: 'AAAA', value: '2001:db8::43', epoch: 3 }));
      expect(await answers('v6.example.test', 'AAAA')).toEqual(['2001:db8::43']);
      expect(await stored(ZONE_A, 'v6.example.test', 'CNAME')).toBeUndefined();
    });

    it('is atomic: a PATCH PowerDNS refuses writes neither the records nor their markers', async () => {
      // An A and a CNAME at one name cannot coexist: PowerDNS refuses the whole PATCH (422).
      const error = await provider
        .applyMany([
          write({ name: 'clash.example.test', value: '10.3.0.1', epoch: 1 }),
          write({ name: 'fine.example.test', value: '10.3.0.2', epoch: 1 }),
          write({ name: 'clash.example.test', type: 'CNAME', value: 'app.example.test', epoch: 1 }),
        ])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PowerDnsApiError);
      expect(error).toMatchObject({ httpStatus: 422, retryable: false });
      expect((error as PowerDnsApiError).pdnsError).toMatch(/clash\.example\.test/);
      expect(await answers('fine.example.test', 'A')).toEqual([]);
      expect(await stored(ZONE_A, '_ha-epoch.clash.example.test', 'TXT')).toBeUndefined();
      expect(await stored(ZONE_A, '_ha-epoch.fine.example.test', 'TXT')).toBeUndefined();
    });

    it('refuses a wrong API key with a clear error that holds neither key, the record unchanged', async () => {
      const wrongKey = 'wrong-key-0123456789abcdef';
      const forged = new PowerDnsProvider(config({ apiKey: wrongKey }));
      const error = await forged.apply(write({ value: '10.6.6.6', epoch: 7 })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PowerDnsApiError);
      expect(error).toMatchObject({ httpStatus: 401, retryable: false, reason: 'HTTP_401' });
      const { message } = error as PowerDnsApiError;
      expect(message).toMatch(/answered 401: Unauthorized \(check PDNS_API_KEY\)/);
      expect(message).not.toContain(wrongKey);
      expect(message).not.toContain(pdns!.apiKey);
      expect(JSON.stringify(error)).not.toContain(wrongKey);
      expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.3']);
    });

    it('names a zone that does not exist on the server', async () => {
      const error = await provider
        .apply(write({ zone: 'missing.test', name: 'app.missing.test' }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PowerDnsApiError);
      expect(error).toMatchObject({ httpStatus: 404, retryable: false });
      expect((error as Error).message).toMatch(
        /zone missing\.test does not exist on PowerDNS server localhost/,
      );
    });

    it('maps an API nobody listens on to a retryable error', async () => {
      const nowhere = new PowerDnsProvider(config({ apiUrl: 'http://127.0.0.33:18319', timeoutMs: 1000 }));
      await expect(nowhere.apply(write({ epoch: 9 }))).rejects.toMatchObject({
        constructor: PowerDnsApiError,
        reason: 'NETWORK',
        retryable: true,
      });
    });

    it('rejects names outside the zone before sending anything', async () => {
      await expect(provider.apply(write({ name: 'app.example.com' }))).rejects.toMatchObject({
        field: 'name',
      });
    });
  });

  describe('failover with DNS_PROVIDER=powerdns (orchestrator, two real agents)', () => {
    let c: Cluster | undefined;

    beforeAll(async () => {
      c = new Cluster({
        label: 'powerdns',
        addressPrefix: '127.0.0.3', // production 127.0.0.31, replica 127.0.0.32
        agentPort: AGENT_PORT,
        dnsPort: DNS_PORT, // Cluster.dnsAnswer() asks pdns_server
        dnsHost: ADDRESS,
        failoverMode: 'auto',
        orchestratorEnv: {
          DNS_PROVIDER: 'powerdns',
          PDNS_API_URL: pdns!.apiUrl,
          PDNS_API_KEY: pdns!.apiKey,
          PDNS_QUERY_SERVER: `${ADDRESS}:${DNS_PORT}`,
        },
      });
      await c.start(); // start writes production's address through the API
    });

    afterAll(async () => {
      await c?.close();
    });

    it('kill -9 of production → pdns_server answers the replica; the epoch marker is written with it', async () => {
      const cluster = c!;
      expect(await answers(RECORD, 'A')).toEqual([cluster.production.address]);
      expect(await answers(`_ha-epoch.${RECORD}`, 'TXT')).toEqual([
        `"epoch=1 scenario=${cluster.scenarioId}"`,
      ]);
      await cluster.production.agent!.kill();
      await cluster.waitDns(cluster.replica.address, 30_000);
      expect(await answers(RECORD, 'A')).toEqual([cluster.replica.address]);
      expect(await stored(ZONE, RECORD, 'A')).toEqual([cluster.replica.address]);
      expect(await answers(`_ha-epoch.${RECORD}`, 'TXT')).toEqual([
        `"epoch=2 scenario=${cluster.scenarioId}"`,
      ]);
      const failover = (await cluster.operations()).find((o) => o.type === 'failover');
      const done = await cluster.waitOperation(failover.id);
      expect(done.state).toBe('succeeded');
      expect(done.steps.find((s: { name: string }) => s.name === 'verify-dns').output).toMatchObject({
        provider: 'powerdns',
        answers: cluster.replica.address,
      });
      const scenario = await cluster.scenario();
      expect(scenario.activeNodeId).toBe(cluster.replica.id);
    });
  });
});
