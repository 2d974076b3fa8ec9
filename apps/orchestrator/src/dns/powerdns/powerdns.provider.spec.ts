import { ConflictError, InvalidInputError } from '../../common/errors';
import { DnsRecordWrite } from '../dns-provider.interface';
import { StaleEpochError } from '../embedded/stale-epoch.error';
import { formatEpochMarker } from '../rfc2136/epoch-marker';
import { PowerDnsApiError } from './powerdns-api.error';
import { PowerDnsClient } from './powerdns.client';
import { PowerDnsProvider } from './powerdns.provider';
import { PdnsRecord, PdnsRRset, txtContent } from './powerdns-rrsets';

const write = (overrides: Partial<DnsRecordWrite> = {}): DnsRecordWrite => ({
  zone: 'example.test',
  name: 'app.example.test',
  type: 'A',
  ttl: 30,
  value: '10.0.0.1',
  epoch: 5,
  scenarioId: 'scenario-1',
  ...overrides,
});

/**
 * The provider with its HTTP client replaced: markers by name (`_ha-epoch.<name>`), PATCHes
 * recorded, zones listed in `failing` answer with that error.
 */
function setup(
  markers: Record<string, { epoch: number; scenarioId?: string }>,
  failing: Record<string, Error> = {},
) {
  const patches: { zone: string; rrsets: PdnsRRset[] }[] = [];
  const reads: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    getRRset: jest.fn(async (zone: string, name: string): Promise<PdnsRecord[]> => {
      reads.push(name);
      if (failing[zone]) throw failing[zone];
      const m = markers[name];
      return m
        ? [{ content: txtContent(formatEpochMarker(m.epoch, m.scenarioId ?? 'scenario-1')), disabled: false }]
        : [];
    }),
    patchRRsets: jest.fn(async (zone: string, rrsets: PdnsRRset[]) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      if (failing[zone]) throw failing[zone];
      patches.push({ zone, rrsets });
    }),
  } as unknown as PowerDnsClient;
  const provider = new PowerDnsProvider(
    {
      apiUrl: 'http://127.0.0.1:1',
      apiKey: 'k',
      serverId: 'localhost',
      timeoutMs: 100,
      queryServer: { host: '127.0.0.1', port: 1 },
    },
    client,
  );
  return { provider, patches, reads, maxInFlight: () => maxInFlight };
}

describe('PowerDnsProvider', () => {
  it('reads the marker, then writes record and marker in one PATCH', async () => {
    const { provider, patches, reads } = setup({ '_ha-epoch.app.example.test': { epoch: 4 } });
    await provider.apply(write({ name: 'App.Example.Test.' }));
    expect(reads).toEqual(['_ha-epoch.app.example.test']);
    expect(patches).toHaveLength(1);
    expect(patches[0].zone).toBe('example.test');
    expect(patches[0].rrsets.filter((r) => r.changetype === 'REPLACE').map((r) => r.name)).toEqual([
      'app.example.test.',
      '_ha-epoch.app.example.test.',
    ]);
  });

  it('writes when there is no marker yet, and on an equal epoch (a step retrying)', async () => {
    const fresh = setup({});
    await fresh.provider.apply(write());
    expect(fresh.patches).toHaveLength(1);
    const same = setup({ '_ha-epoch.app.example.test': { epoch: 5 } });
    await same.provider.apply(write());
    expect(same.patches).toHaveLength(1);
  });

  it('refuses an older epoch than the marker without writing', async () => {
    const { provider, patches } = setup({ '_ha-epoch.app.example.test': { epoch: 6 } });
    const error = await provider.apply(write()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaleEpochError);
    expect(error).toMatchObject({ current: 6, attempted: 5, retryable: false });
    expect(patches).toEqual([]);
  });

  it('refuses a record marked by another scenario', async () => {
    const { provider, patches } = setup({ '_ha-epoch.app.example.test': { epoch: 1, scenarioId: 'other' } });
    await expect(provider.apply(write())).rejects.toBeInstanceOf(ConflictError);
    expect(patches).toEqual([]);
  });

  it('refuses invalid input before any request', async () => {
    const { provider, reads } = setup({});
    await expect(provider.apply(write({ name: 'app.example.com' }))).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    expect(reads).toEqual([]);
  });

  it('applyMany: one PATCH per zone; a stale write is left out, the rest written, then it is thrown', async () => {
    const { provider, patches, maxInFlight } = setup({ '_ha-epoch.old.example.test': { epoch: 9 } });
    const error = await provider
      .applyMany([
        write({ name: 'a.example.test' }),
        write({ name: 'old.example.test' }),
        write({ zone: 'other.test', name: 'c.other.test' }),
        write({ name: 'b.example.test', type: 'CNAME', value: 'a.example.test' }),
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaleEpochError);
    expect(patches.map((p) => p.zone).sort()).toEqual(['example.test', 'other.test']);
    // Zones one after the other (a SQLite backend fails concurrent PATCHes).
    expect(maxInFlight()).toBe(1);
    const names = (zone: string) =>
      patches
        .find((p) => p.zone === zone)!
        .rrsets.filter((r) => r.changetype === 'REPLACE' && r.type !== 'TXT')
        .map((r) => r.name);
    expect(names('example.test')).toEqual(['a.example.test.', 'b.example.test.']);
    expect(names('other.test')).toEqual(['c.other.test.']);
  });

  it('applyMany: a failing zone does not stop the others, and its error is thrown', async () => {
    const down = new PowerDnsApiError('PowerDNS API PATCH … answered 503', {
      httpStatus: 503,
      reason: 'HTTP_503',
      retryable: true,
    });
    const { provider, patches } = setup({}, { 'other.test': down });
    await expect(
      provider.applyMany([write({ zone: 'other.test', name: 'c.other.test' }), write()]),
    ).rejects.toBe(down);
    expect(patches.map((p) => p.zone)).toEqual(['example.test']);
  });

  it('applyMany reads each name once', async () => {
    const { provider, reads, patches } = setup({});
    await provider.applyMany([write(), write({ type: 'AAAA', value: '::1' })]);
    expect(reads).toEqual(['_ha-epoch.app.example.test']);
    expect(patches[0].rrsets.filter((r) => r.type === 'TXT')).toHaveLength(1);
  });
});
