/**
 * Embedded DNS server vs BIND 9 (`named -n 1`), same zone (N A records), same client (dnsperf
 * -c 4, no rate limit), same core: the server under test is pinned to --server-cpu (1), dnsperf to
 * --load-cpu (0). Rounds interleave ours and BIND's; a last round of ours flips one record every
 * 100 ms meanwhile (answers must stay NOERROR, none lost). Prints one JSON document.
 *
 *   npm run build && node dist/bench/dns-throughput.js [--records 1000] [--seconds 10] [--rounds 3]
 *
 * Needs `named` (bind9) and `dnsperf` (apt-get install bind9 dnsperf). Ports 15991 (ours), 15992 (BIND).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const RECORDS = arg('records', 1000);
const SECONDS = arg('seconds', 10);
const ROUNDS = arg('rounds', 3);
const SERVER_CPU = String(arg('server-cpu', 1));
const LOAD_CPU = String(arg('load-cpu', 0));
const OURS = 15991;
const BIND = 15992;

const dir = mkdtempSync(join(tmpdir(), 'ha-dnsbench-'));
const children: ChildProcess[] = [];
const progress = (m: string) => process.stderr.write(`${m}\n`);

function pin(pid: number, cpu: string): void {
  execFileSync('taskset', ['-a', '-pc', cpu, String(pid)], { stdio: 'ignore' });
}

function waitFor(child: ChildProcess, text: string, timeoutMs = 15000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`no "${text}" from ${child.spawnfile}: ${out.slice(-500)}`)),
      timeoutMs,
    );
    const on = (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => reject(new Error(`${child.spawnfile} exited ${code}: ${out.slice(-500)}`)));
  });
}

async function startOurs(flipMs: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [join(__dirname, 'lib/dns-server-runner.js'), String(OURS), String(RECORDS), String(flipMs)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  await waitFor(child, 'listening');
  pin(child.pid!, SERVER_CPU);
  return child;
}

async function startBind(): Promise<ChildProcess> {
  const zone = [
    '$TTL 30',
    '@ IN SOA ns1.bench.test. hostmaster.bench.test. 1 3600 600 86400 30',
    '@ IN NS ns1.bench.test.',
    'ns1 IN A 127.0.0.1',
    ...Array.from({ length: RECORDS }, (_, i) => `r${i} IN A 10.1.${i >> 8}.${i & 255}`),
  ].join('\n');
  writeFileSync(join(dir, 'bench.test.db'), `${zone}\n`);
  writeFileSync(
    join(dir, 'named.conf'),
    `options { directory "${dir}"; pid-file "${dir}/named.pid"; session-keyfile "${dir}/s.key";
  listen-on port ${BIND} { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; notify no;
  dnssec-validation no; minimal-responses yes; };
controls { };
zone "bench.test" { type primary; file "bench.test.db"; };
`,
  );
  const child = spawn('/usr/sbin/named', ['-g', '-n', '1', '-c', join(dir, 'named.conf')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  await waitFor(child, 'running');
  pin(child.pid!, SERVER_CPU);
  return child;
}

interface PerfResult {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  rcodes: Record<string, number>;
  avgLatencyMs: number;
}

function dnsperf(port: number): PerfResult {
  const out = execFileSync(
    'taskset',
    [
      '-c',
      LOAD_CPU,
      'dnsperf',
      '-s',
      '127.0.0.1',
      '-p',
      String(port),
      '-d',
      join(dir, 'queries.txt'),
      '-c',
      '4',
      '-l',
      String(SECONDS),
      '-q',
      '500',
    ],
    { encoding: 'utf8', maxBuffer: 10 * 1024 * 1024 },
  );
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const rcodes: Record<string, number> = {};
  const codes = /Response codes:\s+(.*)/.exec(out)?.[1] ?? '';
  for (const m of codes.matchAll(/([A-Z]+) (\d+)/g)) rcodes[m[1]] = Number(m[2]);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    rcodes,
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
}

async function main(): Promise<void> {
  writeFileSync(
    join(dir, 'queries.txt'),
    `${Array.from({ length: RECORDS }, (_, i) => `r${i}.bench.test A`).join('\n')}\n`,
  );
  const rounds: { round: number; ours: PerfResult; bind: PerfResult; ratio: number }[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const ours = await startOurs(0);
    progress(`round ${r}: ours`);
    const o = dnsperf(OURS);
    ours.kill('SIGKILL');
    const bind = await startBind();
    progress(`round ${r}: BIND`);
    const b = dnsperf(BIND);
    bind.kill('SIGKILL');
    await new Promise((res) => bind.once('exit', res));
    const ratio = Math.round((o.qps / b.qps) * 1000) / 1000;
    progress(`  ours ${Math.round(o.qps)} qps, BIND ${Math.round(b.qps)} qps → ${ratio}×`);
    rounds.push({ round: r, ours: o, bind: b, ratio });
  }
  const flipping = await startOurs(100);
  progress('ours while r0 flips every 100 ms');
  const f = dnsperf(OURS);
  flipping.kill('SIGKILL');
  progress(`  ${Math.round(f.qps)} qps, lost ${f.lost}, rcodes ${JSON.stringify(f.rcodes)}`);
  console.log(
    JSON.stringify(
      {
        bench: 'dns-throughput',
        date: new Date().toISOString(),
        records: RECORDS,
        seconds: SECONDS,
        pinned: { server: SERVER_CPU, load: LOAD_CPU },
        rounds,
        whileFlipping: f,
      },
      null,
      2,
    ),
  );
}

main()
  .catch((err: Error) => {
    console.error(err.message);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
