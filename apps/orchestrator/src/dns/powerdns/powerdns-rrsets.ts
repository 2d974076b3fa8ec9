/**
 * What record writes become in the PowerDNS HTTP API: RRsets of one PATCH per zone, each record
 * with its `_ha-epoch.<name>` TXT marker; and the marker read back from a TXT RRset's content.
 * PowerDNS takes record content in zone-file presentation form: absolute names end with a dot,
 * TXT content is one or more quoted strings.
 */
import { DnsRecordType, DnsRecordWrite } from '../dns-provider.interface';
import { EpochMarker, epochMarkerName, formatEpochMarker, newestEpochMarker } from '../rfc2136/epoch-marker';

export type PdnsRecordType = DnsRecordType | 'TXT';

export interface PdnsRecord {
  content: string;
  disabled: boolean;
}

export interface PdnsRRset {
  name: string;
  type: PdnsRecordType;
  ttl?: number;
  changetype: 'REPLACE' | 'DELETE';
  records?: PdnsRecord[];
}

/** Types a write of the given type displaces at the same name (a CNAME owner holds no other data). */
const DISPLACED: Record<DnsRecordType, DnsRecordType[]> = {
  A: ['CNAME'],
  AAAA: ['CNAME'],
  CNAME: ['A', 'AAAA'],
};

/** An absolute name as PowerDNS wants it: the normalized name with its trailing dot. */
export const absoluteName = (name: string): string => `${name}.`;

/** The zone id in API paths (`ha.test.`), path-escaped. */
export const zoneId = (zone: string): string => encodeURIComponent(absoluteName(zone));

/** Record content in presentation form: addresses as they are, a CNAME target absolute. */
export function recordContent(type: DnsRecordType, value: string): string {
  return type === 'CNAME' ? absoluteName(value) : value;
}

/**
 * TXT content for one text: quoted character-strings of at most 255 octets, `"` and `\` escaped,
 * bytes outside printable ASCII as \DDD.
 */
export function txtContent(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  const strings: string[] = [];
  for (let from = 0; from === 0 || from < bytes.length; from += 255) {
    let out = '';
    for (const byte of bytes.subarray(from, from + 255)) {
      if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
      else if (byte < 0x20 || byte > 0x7e) out += `\\${String(byte).padStart(3, '0')}`;
      else out += String.fromCharCode(byte);
    }
    strings.push(`"${out}"`);
  }
  return strings.join(' ');
}

/**
 * The character-strings of a TXT record's content (`"a" "b"`, or a bare word), unescaped.
 * Returns undefined when the content is not well-formed.
 */
export function parseTxtContent(content: string): string[] | undefined {
  const strings: string[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < content.length && /\s/.test(content[i])) i++;
  };
  skipSpace();
  while (i < content.length) {
    const quoted = content[i] === '"';
    if (quoted) i++;
    const bytes: number[] = [];
    for (;;) {
      if (i >= content.length) {
        if (quoted) return undefined;
        break;
      }
      const c = content[i];
      if (quoted ? c === '"' : /\s/.test(c)) {
        if (quoted) i++;
        break;
      }
      if (c === '\\') {
        const digits = /^\d{3}/.exec(content.slice(i + 1));
        if (digits) {
          const byte = Number(digits[0]);
          if (byte > 255) return undefined;
          bytes.push(byte);
          i += 4;
          continue;
        }
        if (i + 1 >= content.length) return undefined;
        bytes.push(...Buffer.from(content[i + 1], 'utf8'));
        i += 2;
        continue;
      }
      bytes.push(...Buffer.from(c, 'utf8'));
      i++;
    }
    strings.push(Buffer.from(bytes).toString('utf8'));
    if (i < content.length && !/\s/.test(content[i])) return undefined;
    skipSpace();
  }
  return strings;
}

/**
 * The newest epoch marker in a TXT RRset's records (normally exactly one). The strings of one
 * record are one text (a long marker is split at 255 octets), as TXT readers join them.
 */
export function markerFromRecords(records: PdnsRecord[]): EpochMarker | undefined {
  const texts = records
    .filter((r) => !r.disabled)
    .map((r) => parseTxtContent(r.content))
    .filter((strings): strings is string[] => strings !== undefined)
    .map((strings) => strings.join(''));
  return newestEpochMarker(texts);
}

/**
 * The RRsets of one PATCH for normalized writes of one zone: per write the displaced types
 * deleted and the record replaced; per name one marker holding the highest epoch written there.
 * A later write of the same name and type replaces an earlier one; a DELETE never cancels a
 * REPLACE of the same RRset (a batch writing A and CNAME at one name is then refused by PowerDNS
 * as a conflict, not half applied).
 */
export function buildZonePatch(writes: DnsRecordWrite[]): PdnsRRset[] {
  const rrsets = new Map<string, PdnsRRset>();
  const key = (name: string, type: string) => `${name}/${type}`;
  const markers = new Map<string, DnsRecordWrite>();
  for (const w of writes) {
    for (const displaced of DISPLACED[w.type]) {
      const k = key(w.name, displaced);
      if (!rrsets.has(k)) {
        rrsets.set(k, { name: absoluteName(w.name), type: displaced, changetype: 'DELETE' });
      }
    }
    rrsets.set(key(w.name, w.type), {
      name: absoluteName(w.name),
      type: w.type,
      ttl: w.ttl,
      changetype: 'REPLACE',
      records: [{ content: recordContent(w.type, w.value), disabled: false }],
    });
    const marker = markers.get(w.name);
    if (!marker || w.epoch >= marker.epoch) markers.set(w.name, w);
  }
  for (const [name, w] of markers) {
    rrsets.set(key(epochMarkerName(name), 'TXT'), {
      name: absoluteName(epochMarkerName(name)),
      type: 'TXT',
      ttl: w.ttl,
      changetype: 'REPLACE',
      records: [{ content: txtContent(formatEpochMarker(w.epoch, w.scenarioId)), disabled: false }],
    });
  }
  return [...rrsets.values()];
}
