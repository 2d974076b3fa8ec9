import { InvalidInputError } from '../../common/errors';
import { DnsRecordWrite } from '../dns-provider.interface';
import { rdataTxt, RR_CLASS, RR_TYPE } from './dns-wire';
import { EpochMarker, formatEpochMarker, newestEpochMarker, parseEpochMarker } from './epoch-marker';
import { buildRecordUpdate, normalizeWrite } from './record-update';
import { Prerequisite, prerequisiteRecords, UpdateOperation, updateRecord } from './update-message';

const write = (overrides: Partial<DnsRecordWrite> = {}): DnsRecordWrite => ({
  zone: 'example.test',
  name: 'app.example.test',
  type: 'A',
  ttl: 30,
  value: '10.0.0.1',
  epoch: 1,
  scenarioId: 'scenario-1',
  ...overrides,
});

describe('RFC 2136 §2.4 prerequisites and §2.5 updates', () => {
  const rdata = Buffer.from([1, 2, 3, 4]);
  it.each<[Prerequisite, number[][]]>([
    [{ kind: 'rrsetExists', name: 'n', type: RR_TYPE.A }, [[RR_CLASS.ANY, RR_TYPE.A, 0, 0]]],
    [{ kind: 'rrsetAbsent', name: 'n', type: RR_TYPE.A }, [[RR_CLASS.NONE, RR_TYPE.A, 0, 0]]],
    [{ kind: 'nameInUse', name: 'n' }, [[RR_CLASS.ANY, RR_TYPE.ANY, 0, 0]]],
    [{ kind: 'nameNotInUse', name: 'n' }, [[RR_CLASS.NONE, RR_TYPE.ANY, 0, 0]]],
    [
      { kind: 'rrsetEquals', name: 'n', type: RR_TYPE.A, rdatas: [rdata, rdata] },
      [
        [RR_CLASS.IN, RR_TYPE.A, 0, 4],
        [RR_CLASS.IN, RR_TYPE.A, 0, 4],
      ],
    ],
  ])('encodes prerequisite %p', (prerequisite, expected) => {
    expect(prerequisiteRecords(prerequisite).map((r) => [r.class, r.type, r.ttl, r.rdata.length])).toEqual(
      expected,
    );
  });

  it.each<[UpdateOperation, number[]]>([
    [{ kind: 'add', name: 'n', type: RR_TYPE.A, ttl: 30, rdata }, [RR_CLASS.IN, RR_TYPE.A, 30, 4]],
    [{ kind: 'deleteRRset', name: 'n', type: RR_TYPE.A }, [RR_CLASS.ANY, RR_TYPE.A, 0, 0]],
    [{ kind: 'deleteName', name: 'n' }, [RR_CLASS.ANY, RR_TYPE.ANY, 0, 0]],
    [{ kind: 'deleteRecord', name: 'n', type: RR_TYPE.A, rdata }, [RR_CLASS.NONE, RR_TYPE.A, 0, 4]],
  ])('encodes update %p', (update, expected) => {
    const r = updateRecord(update);
    expect([r.class, r.type, r.ttl, r.rdata.length]).toEqual(expected);
  });
});

describe('buildRecordUpdate', () => {
  it('guards on the marker as read, replaces the RRset and the marker together', () => {
    const marker = [rdataTxt([formatEpochMarker(1, 'scenario-1')])];
    const request = buildRecordUpdate(normalizeWrite(write({ epoch: 2 })), marker);
    expect(request.zone).toBe('example.test');
    expect(request.prerequisites).toEqual([
      { kind: 'rrsetEquals', name: '_ha-epoch.app.example.test', type: RR_TYPE.TXT, rdatas: marker },
    ]);
    expect(request.updates.map((u) => `${u.kind} ${u.name} ${'type' in u ? u.type : ''}`)).toEqual([
      `deleteRRset app.example.test ${RR_TYPE.CNAME}`,
      `deleteRRset app.example.test ${RR_TYPE.A}`,
      `add app.example.test ${RR_TYPE.A}`,
      `deleteRRset _ha-epoch.app.example.test ${RR_TYPE.TXT}`,
      `add _ha-epoch.app.example.test ${RR_TYPE.TXT}`,
    ]);
  });

  it('clears address records when a CNAME takes a name over', () => {
    const request = buildRecordUpdate(
      normalizeWrite(write({ type: 'CNAME', value: 'Target.Example.Net.' })),
      [],
    );
    expect(request.prerequisites).toEqual([
      { kind: 'rrsetAbsent', name: '_ha-epoch.app.example.test', type: RR_TYPE.TXT },
    ]);
    const deleted = request.updates.filter((u) => u.kind === 'deleteRRset' && u.name === 'app.example.test');
    expect(deleted.map((u) => ('type' in u ? u.type : 0))).toEqual([RR_TYPE.A, RR_TYPE.AAAA, RR_TYPE.CNAME]);
    const added = request.updates.find((u) => u.kind === 'add' && u.type === RR_TYPE.CNAME);
    expect(added && 'rdata' in added ? added.rdata.toString('latin1') : '').toBe(
      '\x06target\x07example\x03net\x00',
    );
  });
});

describe('normalizeWrite', () => {
  it('normalizes names and values', () => {
    expect(
      normalizeWrite(
        write({ zone: 'Example.Test.', name: 'V6.Example.Test.', type: 'AAAA', value: '2001:DB8:0::1' }),
      ),
    ).toMatchObject({ zone: 'example.test', name: 'v6.example.test', value: '2001:db8::1' });
  });

  it.each([
    [{ name: 'app.example.com' }, 'name'],
    [{ zone: '' }, 'zone'],
    [{ type: 'TXT' as never }, 'type'],
    [{ ttl: -5 }, 'ttl'],
    [{ epoch: 1.5 }, 'epoch'],
    [{ scenarioId: 'two words' }, 'scenarioId'],
    [{ value: '300.1.1.1' }, 'value'],
    [{ type: 'CNAME' as const, name: 'example.test', value: 'x.example.net' }, 'name'],
  ])('rejects %p naming the field %s', (overrides, field) => {
    let error: unknown;
    try {
      normalizeWrite(write(overrides));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).toBe(field);
  });
});

describe('epoch marker', () => {
  it('formats and parses the marker text', () => {
    expect(formatEpochMarker(12, 'abc-1')).toBe('epoch=12 scenario=abc-1');
    expect(parseEpochMarker('epoch=12 scenario=abc-1')).toEqual({ epoch: 12, scenarioId: 'abc-1' });
    expect(parseEpochMarker('epoch=3')).toEqual({ epoch: 3 });
    expect(parseEpochMarker('v=spf1 -all')).toBeUndefined();
    expect(parseEpochMarker('epoch=-1')).toBeUndefined();
  });

  it('takes the newest of several markers and ignores foreign text', () => {
    expect(newestEpochMarker(['epoch=2 scenario=a', 'hello', 'epoch=5 scenario=a'])).toEqual<EpochMarker>({
      epoch: 5,
      scenarioId: 'a',
    });
    expect(newestEpochMarker(['hello'])).toBeUndefined();
  });
});
