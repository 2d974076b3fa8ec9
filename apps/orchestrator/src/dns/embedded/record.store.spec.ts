import { ConflictError, InvalidInputError } from '../../common/errors';
import {
  canonicalIpv6,
  hostNameProblem,
  isInZone,
  normalizeName,
  normalizeRecordValue,
} from './dns-name.util';
import { StoredRecord } from './embedded-dns.types';
import { RecordStore } from './record.store';
import { StaleEpochError } from './stale-epoch.error';

const T0 = Date.UTC(2026, 0, 1);
const record = (overrides: Partial<StoredRecord> = {}): StoredRecord => ({
  zone: 'example.test',
  name: 'app.example.test',
  type: 'A',
  ttl: 30,
  value: '10.0.0.1',
  epoch: 1,
  scenarioId: 'scenario-1',
  ...overrides,
});

function newStore(now = () => T0) {
  const store = new RecordStore({ nsAddress: '127.0.0.1', now });
  store.setZones(['example.test', 'Other.Test.']);
  return store;
}

describe('dns-name.util', () => {
  it('normalizes case and the trailing dot', () => {
    expect(normalizeName(' App.Example.TEST. ')).toBe('app.example.test');
    expect(normalizeName('example.test')).toBe('example.test');
  });

  it('tells names inside a zone from look-alikes', () => {
    expect(isInZone('example.test', 'example.test')).toBe(true);
    expect(isInZone('a.b.example.test', 'example.test')).toBe(true);
    expect(isInZone('badexample.test', 'example.test')).toBe(false);
    expect(isInZone('test', 'example.test')).toBe(false);
  });

  it('rejects names that are not host names', () => {
    expect(hostNameProblem('app.example.test')).toBeUndefined();
    expect(hostNameProblem('_ha-epoch.app.example.test')).toBeUndefined();
    expect(hostNameProblem('')).toBe('is empty');
    expect(hostNameProblem('a..b')).toBe('has an empty label');
    expect(hostNameProblem('-a.b')).toMatch(/invalid label/);
    expect(hostNameProblem('a b.c')).toMatch(/invalid label/);
    expect(hostNameProblem(`${'x'.repeat(64)}.test`)).toMatch(/longer than 63/);
    expect(hostNameProblem(`${'abcdefghi.'.repeat(26)}test`)).toMatch(/253/);
  });

  it('normalizes values per type', () => {
    expect(normalizeRecordValue('A', '10.0.0.1')).toEqual({ value: '10.0.0.1' });
    expect(normalizeRecordValue('A', '10.0.0.256')).toHaveProperty('problem');
    expect(normalizeRecordValue('A', '::1')).toHaveProperty('problem');
    expect(normalizeRecordValue('AAAA', '2001:DB8:0:0:0:0:0:1')).toEqual({ value: '2001:db8::1' });
    expect(normalizeRecordValue('AAAA', 'fe80::1%eth0')).toHaveProperty('problem');
    expect(normalizeRecordValue('CNAME', 'Target.Example.Net.')).toEqual({ value: 'target.example.net' });
    expect(normalizeRecordValue('CNAME', 'not a name')).toHaveProperty('problem');
    expect(canonicalIpv6('2001:0db8:0000:0000:0001:0000:0000:0001')).toBe('2001:db8::1:0:0:1');
  });
});

describe('RecordStore answers', () => {
  let store: RecordStore;
  beforeEach(() => {
    store = newStore();
    store.upsert(record());
    store.upsert(record({ name: 'v6.example.test', type: 'AAAA', value: '2001:db8::5', ttl: 45 }));
    store.upsert(record({ name: 'www.example.test', type: 'CNAME', value: 'app.example.test', ttl: 20 }));
    store.upsert(record({ name: 'ext.example.test', type: 'CNAME', value: 'elsewhere.example.net' }));
    store.upsert(record({ name: 'dangling.example.test', type: 'CNAME', value: 'missing.example.test' }));
    store.upsert(record({ name: 'deep.a.b.example.test' }));
  });

  it('answers an A record with its TTL, authoritatively', () => {
    expect(store.resolve('app.example.test', 'A')).toEqual({
      rcode: 'NOERROR',
      authoritative: true,
      answers: [{ name: 'app.example.test', type: 'A', ttl: 30, value: '10.0.0.1' }],
      authorities: [],
      additionals: [],
    });
  });

  it('matches names case-insensitively and with a trailing dot', () => {
    expect(store.resolve('APP.Example.Test.', 'A').answers).toHaveLength(1);
  });

  it('gives NXDOMAIN with the SOA (negative TTL) for an unknown name inside a zone', () => {
    const r = store.resolve('nope.example.test', 'A');
    expect(r.rcode).toBe('NXDOMAIN');
    expect(r.authoritative).toBe(true);
    expect(r.answers).toEqual([]);
    expect(r.authorities).toHaveLength(1);
    expect(r.authorities[0]).toMatchObject({ name: 'example.test', type: 'SOA', ttl: 30 });
  });

  it('gives NODATA (NOERROR, no answer, SOA) for a known name and another type', () => {
    const r = store.resolve('app.example.test', 'AAAA');
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toEqual([]);
    expect(r.authorities[0]).toMatchObject({ type: 'SOA' });
    expect(store.resolve('app.example.test', 'MX').rcode).toBe('NOERROR');
    expect(store.resolve('app.example.test', 'TYPE65').rcode).toBe('NOERROR');
  });

  it('treats an empty non-terminal as existing (NODATA, not NXDOMAIN)', () => {
    expect(store.resolve('a.b.example.test', 'A')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(store.resolve('b.example.test', 'A')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(store.resolve('c.b.example.test', 'A').rcode).toBe('NXDOMAIN');
  });

  it('refuses names outside every served zone, without AA', () => {
    for (const name of ['example.net', 'badexample.test', 'test']) {
      expect(store.resolve(name, 'A')).toMatchObject({ rcode: 'REFUSED', authoritative: false, answers: [] });
    }
  });

  it('serves SOA and NS at the apex, with ns1 glue', () => {
    const soa = store.resolve('example.test', 'SOA');
    expect(soa.rcode).toBe('NOERROR');
    expect(soa.answers[0]).toMatchObject({
      type: 'SOA',
      ttl: 60,
      soa: { mname: 'ns1.example.test', rname: 'hostmaster.example.test', minimum: 30 },
    });
    const ns = store.resolve('EXAMPLE.test', 'NS');
    expect(ns.answers).toEqual([{ name: 'example.test', type: 'NS', ttl: 60, value: 'ns1.example.test' }]);
    expect(ns.additionals).toEqual([{ name: 'ns1.example.test', type: 'A', ttl: 60, value: '127.0.0.1' }]);
    expect(store.resolve('ns1.example.test', 'A').answers).toEqual(ns.additionals);
    expect(store.resolve('ns1.example.test', 'AAAA')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(store.resolve('example.test', 'A')).toMatchObject({ rcode: 'NOERROR', answers: [] });
  });

  it('answers the CNAME for any type, chasing targets inside our zones', () => {
    const r = store.resolve('www.example.test', 'A');
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toEqual([
      { name: 'www.example.test', type: 'CNAME', ttl: 20, value: 'app.example.test' },
      { name: 'app.example.test', type: 'A', ttl: 30, value: '10.0.0.1' },
    ]);
    const nodata = store.resolve('www.example.test', 'AAAA');
    expect(nodata.answers.map((a) => a.type)).toEqual(['CNAME']);
    expect(nodata.authorities[0]).toMatchObject({ type: 'SOA' });
    expect(store.resolve('www.example.test', 'CNAME').answers).toHaveLength(1);
    expect(store.resolve('www.example.test', 'ANY').answers.map((a) => a.type)).toEqual(['CNAME']);
  });

  it('stops at a target outside our zones, and reports NXDOMAIN for a dangling in-zone target', () => {
    expect(store.resolve('ext.example.test', 'A')).toMatchObject({
      rcode: 'NOERROR',
      answers: [{ type: 'CNAME', value: 'elsewhere.example.net' }],
      authorities: [],
    });
    const dangling = store.resolve('dangling.example.test', 'A');
    expect(dangling.rcode).toBe('NXDOMAIN');
    expect(dangling.answers).toHaveLength(1);
  });

  it('follows chains across served zones and stops on loops', () => {
    store.upsert(
      record({ zone: 'other.test', name: 'x.other.test', type: 'CNAME', value: 'www.example.test' }),
    );
    expect(store.resolve('x.other.test', 'A').answers.map((a) => a.name)).toEqual([
      'x.other.test',
      'www.example.test',
      'app.example.test',
    ]);
    store.upsert(record({ name: 'loop1.example.test', type: 'CNAME', value: 'loop2.example.test' }));
    store.upsert(record({ name: 'loop2.example.test', type: 'CNAME', value: 'loop1.example.test' }));
    const loop = store.resolve('loop1.example.test', 'A');
    expect(loop.rcode).toBe('NOERROR');
    expect(loop.answers).toHaveLength(2);
  });

  it('answers every type it holds for ANY', () => {
    store.upsert(record({ name: 'app.example.test', type: 'AAAA', value: '2001:db8::1' }));
    expect(
      store
        .resolve('app.example.test', 'ANY')
        .answers.map((a) => a.type)
        .sort(),
    ).toEqual(['A', 'AAAA']);
    expect(
      store
        .resolve('example.test', 'ANY')
        .answers.map((a) => a.type)
        .sort(),
    ).toEqual(['NS', 'SOA']);
  });

  it('answers from the most specific served zone', () => {
    store.setZones(['example.test', 'sub.example.test']);
    const r = store.resolve('nope.sub.example.test', 'A');
    expect(r.authorities[0]).toMatchObject({ name: 'sub.example.test', type: 'SOA' });
  });

  it('stops answering a zone that is no longer served, but keeps its records', () => {
    store.setZones(['other.test']);
    expect(store.resolve('app.example.test', 'A').rcode).toBe('REFUSED');
    store.setZones(['example.test']);
    expect(store.resolve('app.example.test', 'A').answers).toHaveLength(1);
  });
});

describe('RecordStore writes and epochs', () => {
  it('applies a new value and reports unchanged when nothing users see changes', () => {
    const store = newStore();
    expect(store.upsert(record())).toBe('applied');
    expect(store.upsert(record())).toBe('unchanged');
    expect(store.upsert(record({ value: '10.0.0.2', epoch: 2 }))).toBe('applied');
    expect(store.upsert(record({ value: '10.0.0.2', epoch: 2, ttl: 60 }))).toBe('applied');
  });

  it('refuses a lower epoch and leaves the record unchanged', () => {
    const store = newStore();
    store.upsert(record({ epoch: 5, value: '10.0.0.5' }));
    let error: unknown;
    try {
      store.upsert(record({ epoch: 4, value: '10.0.0.4' }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StaleEpochError);
    expect(error).toMatchObject({ current: 5, attempted: 4, retryable: false });
    expect(store.snapshot()).toEqual([record({ epoch: 5, value: '10.0.0.5' })]);
    expect(store.resolve('app.example.test', 'A').answers[0]).toMatchObject({ value: '10.0.0.5' });
  });

  it('allows the same epoch with another value (the same operation retrying)', () => {
    const store = newStore();
    store.upsert(record({ epoch: 3, value: '10.0.0.3' }));
    expect(store.upsert(record({ epoch: 3, value: '10.0.0.33' }))).toBe('applied');
    expect(store.snapshot()[0]).toMatchObject({ epoch: 3, value: '10.0.0.33' });
  });

  it('moves the fence to a higher epoch even when the value is the same', () => {
    const store = newStore();
    store.upsert(record({ epoch: 1 }));
    expect(store.upsert(record({ epoch: 7 }))).toBe('unchanged');
    expect(() => store.upsert(record({ epoch: 6, value: '10.9.9.9' }))).toThrow(StaleEpochError);
  });

  it('fences removals by epoch too', () => {
    const store = newStore();
    store.upsert(record({ epoch: 4 }));
    expect(() => store.remove({ name: 'app.example.test', type: 'A' }, 3)).toThrow(StaleEpochError);
    expect(store.remove({ name: 'App.Example.Test.', type: 'A' }, 4)).toBe(true);
    expect(store.remove({ name: 'app.example.test', type: 'A' })).toBe(false);
    expect(store.resolve('app.example.test', 'A').rcode).toBe('NXDOMAIN');
  });

  it('stores names and values in normal form', () => {
    const store = newStore();
    store.upsert(
      record({ zone: 'EXAMPLE.test.', name: 'V6.Example.Test.', type: 'AAAA', value: '2001:DB8:0::1' }),
    );
    expect(store.snapshot()).toEqual([
      record({ zone: 'example.test', name: 'v6.example.test', type: 'AAAA', value: '2001:db8::1' }),
    ]);
  });

  it.each([
    [{ zone: 'example.net', name: 'app.example.net' }, 'zone'],
    [{ name: 'app.example.net' }, 'name'],
    [{ name: 'bad name.example.test' }, 'name'],
    [{ type: 'MX' as never }, 'type'],
    [{ ttl: -1 }, 'ttl'],
    [{ ttl: 1.5 }, 'ttl'],
    [{ epoch: -1 }, 'epoch'],
    [{ epoch: Number.NaN }, 'epoch'],
    [{ scenarioId: '' }, 'scenarioId'],
    [{ value: 'not-an-ip' }, 'value'],
    [{ type: 'AAAA' as const, value: '10.0.0.1' }, 'value'],
    [{ type: 'CNAME' as const, value: 'app.example.test' }, 'value'],
    [{ type: 'CNAME' as const, name: 'example.test', value: 'x.example.net' }, 'name'],
  ])('rejects %p naming the field %s', (overrides, field) => {
    const store = newStore();
    let error: unknown;
    try {
      store.upsert(record(overrides));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).toBe(field);
    expect(store.size).toBe(0);
  });

  it('keeps a CNAME owner free of other data', () => {
    const store = newStore();
    store.upsert(record());
    expect(() => store.upsert(record({ type: 'CNAME', value: 'x.example.net' }))).toThrow(ConflictError);
    store.upsert(record({ name: 'c.example.test', type: 'CNAME', value: 'x.example.net' }));
    expect(() => store.upsert(record({ name: 'c.example.test', type: 'AAAA', value: '::1' }))).toThrow(
      ConflictError,
    );
  });

  it('refuses a write from another scenario (epochs of two scenarios are not comparable)', () => {
    const store = newStore();
    store.upsert(record({ epoch: 1 }));
    expect(() => store.upsert(record({ epoch: 9, scenarioId: 'scenario-2', value: '10.2.2.2' }))).toThrow(
      ConflictError,
    );
    expect(store.snapshot()[0].value).toBe('10.0.0.1');
  });
});

describe('RecordStore SOA serial', () => {
  it('starts from epoch seconds and increases on every change, even within one second', () => {
    const store = newStore();
    const first = store.serialOf('example.test')!;
    expect(first).toBe(T0 / 1000);
    store.upsert(record());
    const second = store.serialOf('example.test')!;
    expect(second).toBeGreaterThan(first);
    store.upsert(record());
    expect(store.serialOf('example.test')).toBe(second);
    store.upsert(record({ value: '10.0.0.2' }));
    expect(store.serialOf('example.test')).toBe(second + 1);
    expect(store.serialOf('other.test')).toBe(first);
    expect(store.resolve('example.test', 'SOA').answers[0]).toMatchObject({ soa: { serial: second + 1 } });
  });

  it('follows the clock when it is ahead, and never goes back when the clock does', () => {
    let now = T0;
    const store = newStore(() => now);
    now += 3_600_000;
    store.upsert(record());
    expect(store.serialOf('example.test')).toBe(T0 / 1000 + 3600);
    now = T0;
    store.upsert(record({ value: '10.0.0.2' }));
    expect(store.serialOf('example.test')).toBe(T0 / 1000 + 3601);
  });
});

describe('RecordStore load', () => {
  it('replaces everything, skips invalid rows and keeps the highest epoch of duplicates', () => {
    const store = newStore();
    store.upsert(record({ name: 'old.example.test' }));
    const result = store.load([
      record({ epoch: 3, value: '10.0.0.3' }),
      record({ epoch: 2, value: '10.0.0.2' }),
      record({ name: 'bad', value: '1.2.3.4' }),
      record({ zone: 'unserved.test', name: 'a.unserved.test' }),
      record({ name: 'c.example.test', type: 'CNAME', value: 'x.example.net', epoch: 1 }),
      record({ name: 'c.example.test', type: 'A', value: '10.0.0.9', epoch: 2 }),
    ]);
    expect(result.loaded).toBe(2);
    expect(result.skipped.map((s) => s.reason)).toEqual([
      'duplicate of a record with higher epoch 3',
      expect.stringMatching(/name .*is not inside zone/),
      expect.stringMatching(/not served/),
      expect.stringMatching(/conflicts/),
    ]);
    expect(store.snapshot().map((r) => `${r.name} ${r.type} ${r.value}`)).toEqual([
      'app.example.test A 10.0.0.3',
      'c.example.test A 10.0.0.9',
    ]);
    expect(store.resolve('old.example.test', 'A').rcode).toBe('NXDOMAIN');
  });
});
