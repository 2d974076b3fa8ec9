/** Run the real `dig` against a server on loopback and parse what a user would read. */
import { execFile } from 'node:child_process';

export interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DigResult {
  status: string;
  flags: string[];
  answer: DigRecord[];
  authority: DigRecord[];
  additional: DigRecord[];
  raw: string;
}

export function dig(
  port: number,
  name: string,
  type: string,
  options: { tcp?: boolean; server?: string } = {},
): Promise<DigResult> {
  const args = [
    `@${options.server ?? '127.0.0.1'}`,
    '-p',
    String(port),
    name,
    type,
    '+norecurse',
    '+nocmd',
    '+nostats',
    '+time=2',
    '+tries=1',
  ];
  if (options.tcp) args.push('+tcp');
  return new Promise((resolve, reject) => {
    execFile('dig', args, { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error)
        return reject(new Error(`dig ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
      resolve(parseDig(stdout));
    });
  });
}

export function parseDig(raw: string): DigResult {
  const status = /status: (\w+)/.exec(raw)?.[1];
  const flags = /;; flags: ([^;]*);/.exec(raw)?.[1].trim().split(/\s+/);
  if (!status || !flags) throw new Error(`unexpected dig output:\n${raw}`);
  const sections: Record<string, DigRecord[]> = { ANSWER: [], AUTHORITY: [], ADDITIONAL: [] };
  let current: DigRecord[] | undefined;
  for (const line of raw.split('\n')) {
    const header = /^;; (\w+) SECTION:/.exec(line);
    if (header) {
      current = sections[header[1]];
      continue;
    }
    if (!line.trim() || line.startsWith(';')) {
      if (!line.trim()) current = undefined;
      continue;
    }
    if (!current) continue;
    const [owner, ttl, , rrType, ...data] = line.split(/\s+/);
    current.push({ name: owner, ttl: Number(ttl), type: rrType, data: data.join(' ') });
  }
  return {
    status,
    flags,
    answer: sections.ANSWER,
    authority: sections.AUTHORITY,
    additional: sections.ADDITIONAL,
    raw,
  };
}
