/**
 * RFC 2136 + TSIG against a real BIND 9: our signed UPDATEs must be accepted, wrong keys and
 * stale epochs refused with typed errors, and users (dig, dns2) must see exactly the records
 * written. Port 15353 belongs to this file.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import DNS from 'dns2';
import { ConflictError, StaleEpochError } from '../../apps/orchestrator/src/common/errors';
import { DnsRecordWrite } from '../../apps/orchestrator/src/dns/dns-provider.interface';
import { DnsUpdateError } from '../../apps/orchestrator/src/dns/rfc2136/dns-update.error';
import { normalizeWrite, buildRecordUpdate } from '../../apps/orchestrator/src/dns/rfc2136/record-update';
import { Rfc2136Client } from '../../apps/orchestrator/src/dns/rfc2136/rfc2136.client';
import {
  MarkerReading,
  Rfc2136Provider,
  Rfc2136ProviderConfig,
} from '../../apps/orchestrator/src/dns/rfc2136/rfc2136.provider';
import { dig } from './dig.helper';
import { NamedServer, startNamed } from './named.helper';

jest.setTimeout(60_000);

const PORT = 15353;
const ZONE = 'example.test';
const updateKey = { name: 'ha-test', secretBase64: randomBytes(32).toString('base64') };
const readOnlyKey = { name: 'ha-readonly', secretBase64: randomBytes(32).toString('base64') };

const config = (overrides: Partial<Rfc2136ProviderConfig> = {}): Rfc2136ProviderConfig => ({
  server: '127.0.0.1',
  port: PORT,
  keyName: updateKey.name,
  keySecretBase64: updateKey.secretBase64,
  algorithm: 'hmac-sha256',
  timeoutMs: 3000,
  ...overrides,
});

const write = (overrides: Partial<DnsRecordWrite> = {}): DnsRecordWrite => ({
  zone: ZONE,
  name: 'app.example.test',
  type: 'A',
  ttl: 30,
  value: '10.0.0.1',
  epoch: 1,
  scenarioId: 'scenario-1',
  ...overrides,
});

const answers = async (name: string, type: string, tcp = false) =>
  (await dig(PORT, name, type, { tcp })).answer.map((r) => r.data);

describe('RFC 2136 provider against BIND (e2e)', () => {
  let named: NamedServer | undefined;
  let provider: Rfc2136Provider;

  beforeAll(async () => {
    named = await startNamed({ port: PORT, zone: ZONE, updateKeys: [updateKey], otherKeys: [readOnlyKey] });
    provider = new Rfc2136Provider(config());
  });

  afterAll(async () => {
    await named?.stop();
  });

  it('applies an A record that dig (UDP and TCP) and dns2 then see, with its epoch marker', async () => {
    await provider.apply(write({ value: '10.0.0.1', epoch: 1 }));
    expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.1']);
    expect(await answers('app.example.test', 'A', true)).toEqual(['10.0.0.1']);
    const response = await DNS.UDPClient({ dns: '127.0.0.1', port: PORT })('app.example.test', 'A');
    expect(response.answers).toEqual([expect.objectContaining({ address: '10.0.0.1', ttl: 30 })]);
    expect(await provider.query(write())).toEqual(['10.0.0.1']);
    expect(await answers('_ha-epoch.app.example.test', 'TXT')).toEqual(['"epoch=1 scenario=scenario-1"']);
  });

  it('changes the record on a newer epoch and replaces (not adds to) the RRset', async () => {
    await provider.apply(write({ value: '10.0.0.2', epoch: 2 }));
    expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.2']);
    expect(await answers('_ha-epoch.app.example.test', 'TXT')).toEqual(['"epoch=2 scenario=scenario-1"']);
    // The same epoch may write again (an operation retrying its step).
    await provider.apply(write({ value: '10.0.0.3', epoch: 2 }));
    expect(await provider.query(write())).toEqual(['10.0.0.3']);
  });

  it('refuses a wrong secret with BADSIG and leaves the record unchanged', async () => {
    const forged = new Rfc2136Provider(config({ keySecretBase64: randomBytes(32).toString('base64') }));
    const error = await forged.apply(write({ value: '10.6.6.6', epoch: 3 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsUpdateError);
    expect(error).toMatchObject({
      rcode: 'NOTAUTH',
      tsigError: 'BADSIG',
      reason: 'BADSIG',
      retryable: false,
    });
    expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.3']);
  });

  it('refuses an unknown key with BADKEY, and a known key without update rights with REFUSED', async () => {
    const unknown = new Rfc2136Provider(config({ keyName: 'nobody' }));
    await expect(unknown.apply(write({ value: '10.6.6.6', epoch: 3 }))).rejects.toMatchObject({
      constructor: DnsUpdateError,
      rcode: 'NOTAUTH',
      tsigError: 'BADKEY',
    });
    const readOnly = new Rfc2136Provider(
      config({ keyName: readOnlyKey.name, keySecretBase64: readOnlyKey.secretBase64 }),
    );
    await expect(readOnly.apply(write({ value: '10.6.6.6', epoch: 3 }))).rejects.toMatchObject({
      constructor: DnsUpdateError,
      rcode: 'REFUSED',
      reason: 'REFUSED',
    });
    expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.3']);
  });

  it('reports BADTIME when our clock is off by more than the fudge', async () => {
    const client = new Rfc2136Client({ ...config(), now: () => Date.now() - 3_600_000 });
    const skewed = new Rfc2136Provider(config(), client);
    await expect(skewed.apply(write({ value: '10.6.6.6', epoch: 3 }))).rejects.toMatchObject({
      constructor: DnsUpdateError,
      rcode: 'NOTAUTH',
      tsigError: 'BADTIME',
    });
    expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.3']);
  });

  it('refuses a stale epoch (lower than the TXT marker) and leaves the record unchanged', async () => {
    const error = await provider.apply(write({ value: '10.6.6.6', epoch: 1 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaleEpochError);
    expect(error).toMatchObject({ current: 2, attempted: 1 });
    expect(await answers('app.example.test', 'A', true)).toEqual(['10.0.0.3']);
    expect(await answers('_ha-epoch.app.example.test', 'TXT')).toEqual(['"epoch=2 scenario=scenario-1"']);
  });

  it('refuses a write over a record marked by another scenario', async () => {
    await expect(provider.apply(write({ scenarioId: 'scenario-2', epoch: 9 }))).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.3']);
  });

  it('loses the race safely: a newer epoch written between our read and our update wins', async () => {
    const rival = new Rfc2136Provider(config());
    class RacingProvider extends Rfc2136Provider {
      private raced = false;
      override async readEpochMarker(name: string): Promise<MarkerReading> {
        const reading = await super.readEpochMarker(name);
        if (!this.raced) {
          this.raced = true;
          await rival.apply(write({ value: '10.0.0.10', epoch: 10 }));
        }
        return reading;
      }
    }
    const slow = new RacingProvider(config());
    const error = await slow.apply(write({ value: '10.0.0.9', epoch: 9 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaleEpochError);
    expect(error).toMatchObject({ current: 10, attempted: 9 });
    expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.10']);
    expect(await answers('_ha-epoch.app.example.test', 'TXT')).toEqual(['"epoch=10 scenario=scenario-1"']);
  });

  it('makes the server check the marker prerequisite itself', async () => {
    const client = new Rfc2136Client(config());
    // Expecting the marker to be absent, while it holds epoch 10.
    await expect(
      client.update(buildRecordUpdate(normalizeWrite(write({ epoch: 11 })), [])),
    ).rejects.toMatchObject({
      rcode: 'YXRRSET',
      retryable: true,
    });
    expect(await answers('app.example.test', 'A')).toEqual(['10.0.0.10']);
  });

  it('writes AAAA and CNAME records, a CNAME displacing the address records at its name', async () => {
    await provider.apply(
      write({ name: 'v6.example.test', type: 'AAAA', value: '2001:DB8:0:0::42', epoch: 1 }),
    );
    expect(await answers('v6.example.test', 'AAAA')).toEqual(['2001:db8::42']);
    expect(await provider.query(write({ name: 'v6.example.test', type: 'AAAA' }))).toEqual(['2001:db8::42']);

    await provider.apply(
      write({ name: 'www.example.test', type: 'CNAME', value: 'app.example.test.', epoch: 1 }),
    );
    expect(await answers('www.example.test', 'CNAME', true)).toEqual(['app.example.test.']);
    expect(await provider.query(write({ name: 'www.example.test', type: 'CNAME' }))).toEqual([
      'app.example.test',
    ]);
    expect(await answers('www.example.test', 'A')).toEqual(['app.example.test.', '10.0.0.10']);

    await provider.apply(
      write({ name: 'v6.example.test', type: 'CNAME', value: 'app.example.test', epoch: 2 }),
    );
    expect(await answers('v6.example.test', 'CNAME')).toEqual(['app.example.test.']);
    expect(await provider.query(write({ name: 'v6.example.test', type: 'AAAA' }))).toEqual([]);
    expect(await provider.query(write({ name: 'missing.example.test' }))).toEqual([]);
  });

  it('rejects names outside the zone before sending anything', async () => {
    await expect(provider.apply(write({ name: 'app.example.com' }))).rejects.toMatchObject({ field: 'name' });
  });

  it('maps an unreachable server to a retryable error', async () => {
    const nowhere = new Rfc2136Client(config({ port: await closedPort(), timeoutMs: 1000 }));
    await expect(nowhere.update(buildRecordUpdate(normalizeWrite(write()), []))).rejects.toMatchObject({
      constructor: DnsUpdateError,
      reason: 'NETWORK',
      retryable: true,
    });
  });
});

/** A loopback port nothing listens on (it was free a moment ago). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
