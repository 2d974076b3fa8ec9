import { DnsRecordWrite } from '../dns-provider.interface';
import { formatEpochMarker, parseEpochMarker } from '../rfc2136/epoch-marker';
import { normalizeWrite } from '../rfc2136/record-update';
import { errorField } from './powerdns.client';
import {
  buildZonePatch,
  markerFromRecords,
  parseTxtContent,
  recordContent,
  txtContent,
  zoneId,
} from './powerdns-rrsets';

const write = (overrides: Partial<DnsRecordWrite> = {}): DnsRecordWrite =>
  normalizeWrite({
    zone: 'example.test',
    name: 'app.example.test',
    type: 'A',
    ttl: 30,
    value: '10.0.0.1',
    epoch: 5,
    scenarioId: 'scenario-1',
    ...overrides,
  });

describe('PowerDNS RRsets', () => {
  it('replaces the record and its marker in one PATCH body, names absolute, TXT quoted', () => {
    expect(buildZonePatch([write()])).toEqual([
      { name: 'app.example.test.', type: 'CNAME', changetype: 'DELETE' },
      {
        name: 'app.example.test.',
        type: 'A',
        ttl: 30,
        changetype: 'REPLACE',
        records: [{ content: '10.0.0.1', disabled: false }],
      },
      {
        name: '_ha-epoch.app.example.test.',
        type: 'TXT',
        ttl: 30,
        changetype: 'REPLACE',
        records: [{ content: '"epoch=5 scenario=scenario-1"', disabled: false }],
      },
    ]);
  });

  it('writes a CNAME target absolute and deletes the address records it displaces', () => {
    const rrsets = buildZonePatch([
      write({ name: 'www.example.test', type: 'CNAME', value: 'App.Example.Test.' }),
    ]);
    expect(rrsets.map((r) => `${r.changetype} ${r.name} ${r.type}`)).toEqual([
      'DELETE www.example.test. A',
      'DELETE www.example.test. AAAA',
      'REPLACE www.example.test. CNAME',
      'REPLACE _ha-epoch.www.example.test. TXT',
    ]);
    expect(rrsets[2].records).toEqual([{ content: 'app.example.test.', disabled: false }]);
  });

  it('keeps AAAA content canonical', () => {
    const w = write({ type: 'AAAA', value: '2001:DB8:0:0::42' });
    expect(recordContent(w.type, w.value)).toBe('2001:db8::42');
  });

  it('writes one marker per name (the highest epoch) when a batch has several types at one name', () => {
    const rrsets = buildZonePatch([
      write({ type: 'A', epoch: 7 }),
      write({ type: 'AAAA', value: '::1', epoch: 6 }),
      write({ name: 'b.example.test', epoch: 2 }),
    ]);
    const markers = rrsets.filter((r) => r.type === 'TXT');
    expect(markers.map((m) => [m.name, m.records![0].content])).toEqual([
      ['_ha-epoch.app.example.test.', '"epoch=7 scenario=scenario-1"'],
      ['_ha-epoch.b.example.test.', '"epoch=2 scenario=scenario-1"'],
    ]);
    // The CNAME delete appears once per name; a later write of the same RRset replaces the earlier.
    expect(rrsets.filter((r) => r.type === 'CNAME')).toHaveLength(2);
    const again = buildZonePatch([write({ value: '10.0.0.1' }), write({ value: '10.0.0.2' })]);
    expect(again.filter((r) => r.type === 'A').map((r) => r.records![0].content)).toEqual(['10.0.0.2']);
  });

  it('never lets a displacement DELETE cancel a REPLACE of the same RRset', () => {
    const rrsets = buildZonePatch([
      write({ type: 'A' }),
      write({ type: 'CNAME', value: 'other.example.test' }),
    ]);
    expect(rrsets.filter((r) => r.type === 'A').map((r) => r.changetype)).toEqual(['REPLACE']);
    expect(rrsets.filter((r) => r.type === 'CNAME').map((r) => r.changetype)).toEqual(['REPLACE']);
  });

  it('quotes and escapes TXT content and reads it back', () => {
    expect(txtContent('epoch=1 scenario=a"b\\c')).toBe('"epoch=1 scenario=a\\"b\\\\c"');
    expect(txtContent('é')).toBe('"\\195\\169"');
    expect(txtContent('')).toBe('""');
    for (const text of ['epoch=1 scenario=a"b\\c', 'é ü', '', 'x'.repeat(600)]) {
      expect(parseTxtContent(txtContent(text))?.join('')).toBe(text);
    }
    // Long texts are split into character-strings of at most 255 octets.
    expect(parseTxtContent(txtContent('x'.repeat(600)))?.map((s) => s.length)).toEqual([255, 255, 90]);
  });

  it('parses TXT content as PowerDNS returns it, and refuses what is not well-formed', () => {
    expect(parseTxtContent('"epoch=3 scenario=s"')).toEqual(['epoch=3 scenario=s']);
    expect(parseTxtContent('"a b" "c"')).toEqual(['a b', 'c']);
    expect(parseTxtContent('bare')).toEqual(['bare']);
    expect(parseTxtContent('"\\065\\"x"')).toEqual(['A"x']);
    expect(parseTxtContent('"open')).toBeUndefined();
    expect(parseTxtContent('"a"b')).toBeUndefined();
    expect(parseTxtContent('"\\999"')).toBeUndefined();
  });

  it('finds the newest enabled marker among TXT records, ignoring foreign text', () => {
    const content = (epoch: number) => txtContent(formatEpochMarker(epoch, 's1'));
    expect(
      markerFromRecords([
        { content: content(3), disabled: false },
        { content: content(9), disabled: true },
        { content: '"v=spf1 -all"', disabled: false },
        { content: content(4), disabled: false },
      ]),
    ).toEqual({ epoch: 4, scenarioId: 's1' });
    expect(markerFromRecords([])).toBeUndefined();
    expect(markerFromRecords([{ content: '"open', disabled: false }])).toBeUndefined();
    // A marker split over strings is one text.
    const long = formatEpochMarker(12, 's'.repeat(200));
    expect(markerFromRecords([{ content: txtContent(long), disabled: false }])).toEqual(
      parseEpochMarker(long),
    );
  });

  it('escapes the zone id for the API path', () => {
    expect(zoneId('example.test')).toBe('example.test.');
  });

  it("takes PowerDNS's error field, else the plain body, on one short line", () => {
    expect(errorField('{"error": "RRset x. IN A: Name is out of zone"}')).toBe(
      'RRset x. IN A: Name is out of zone',
    );
    expect(errorField('Unauthorized')).toBe('Unauthorized');
    expect(errorField('a\n  b')).toBe('a b');
    expect(errorField('x'.repeat(400))).toHaveLength(301);
  });
});
