/**
 * Summarises a V8 .cpuprofile: self time per function, inclusive (total) time per function and
 * self time per package (node_modules/<pkg>, node internals, our own apps/ and libs/ code).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface HotSpot {
  fn: string;
  where: string;
  pct: number;
}

/** A named group of frames: matches when the function name and/or the script URL match. */
export interface FrameGroup {
  label: string;
  fn?: RegExp;
  url?: RegExp;
}

export interface ProfileSummary {
  profiledMs: number;
  samples: number;
  /** share of samples where the thread was idle (waiting in epoll) */
  idlePct: number;
  gcPct: number;
  topSelf: HotSpot[];
  /** inclusive: share of samples with at least one frame of the group on the stack */
  groups: { label: string; inclusivePct: number }[];
  /** our code and libraries only (node internals and native frames left out) */
  topInclusive: HotSpot[];
  byPackage: { pkg: string; selfPct: number }[];
}

const META = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

function where(url: string, line: number): string {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) u = u.slice(nm + '/node_modules/'.length);
  else {
    const d = u.indexOf('/dist/');
    if (d >= 0) u = u.slice(d + '/dist/'.length);
  }
  return `${u}:${line + 1}`;
}

export function packageOf(url: string): string {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return 'node (internal)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = u.slice(nm + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const m = /\/dist\/(apps\/[^/]+\/src\/[^/]+|libs\/[^/]+)/.exec(u);
  if (m) return m[1];
  return u;
}

export function summariseProfile(file: string, top = 25, groups: FrameGroup[] = []): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // Sample counts per node (hitCount is not always filled in by the in-process profiler).
  const hits = new Map<number, number>();
  if (p.samples?.length) for (const s of p.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  else for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
  const total = [...hits.values()].reduce((a, b) => a + b, 0) || 1;
  const key = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'}\t${where(n.callFrame.url, n.callFrame.lineNumber)}`;

  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const pkg = new Map<string, number>();
  const grouped = groups.map(() => 0);
  let idle = 0;
  let gc = 0;
  for (const [id, count] of hits) {
    if (!count) continue;
    const n = byId.get(id)!;
    const name = n.callFrame.functionName;
    if (name === '(idle)') idle += count;
    if (name === '(garbage collector)') gc += count;
    self.set(key(n), (self.get(key(n)) ?? 0) + count);
    const pk = META.has(name) ? name : packageOf(n.callFrame.url);
    pkg.set(pk, (pkg.get(pk) ?? 0) + count);
    const seen = new Set<string>();
    const inGroup = groups.map(() => false);
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame;
      groups.forEach((g, i) => {
        if ((!g.fn || g.fn.test(frame.functionName)) && (!g.url || g.url.test(frame.url))) inGroup[i] = true;
      });
      const k = key(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      const pk = packageOf(frame.url);
      if (!META.has(frame.functionName) && pk !== 'node (internal)' && pk !== '(native/V8)') {
        incl.set(k, (incl.get(k) ?? 0) + count);
      }
    }
    inGroup.forEach((hit, i) => hit && (grouped[i] += count));
  }
  const pctOf = (c: number) => Math.round((1000 * c) / total) / 10;
  const list = (m: Map<string, number>, skip: (fn: string) => boolean) =>
    [...m.entries()]
      .map(([k, c]) => {
        const [fn, w] = k.split('\t');
        return { fn, where: w, pct: pctOf(c) };
      })
      .filter((h) => !skip(h.fn))
      .sort((a, b) => b.pct - a.pct)
      .slice(0, top);
  return {
    profiledMs: Math.round((p.endTime - p.startTime) / 1000),
    samples: total,
    idlePct: pctOf(idle),
    gcPct: pctOf(gc),
    topSelf: list(self, (fn) => fn === '(idle)'),
    groups: groups.map((g, i) => ({ label: g.label, inclusivePct: pctOf(grouped[i]) })),
    topInclusive: list(incl, () => false),
    byPackage: [...pkg.entries()]
      .map(([k, c]) => ({ pkg: k, selfPct: pctOf(c) }))
      .sort((a, b) => b.selfPct - a.selfPct)
      .slice(0, 20),
  };
}
