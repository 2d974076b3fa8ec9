/**
 * The embedded DNS server alone, for bench/dns-throughput: `node dns-server-runner.js <port>
 * <records> [flipMs]` serves r0..r<records-1>.bench.test (A), and with flipMs > 0 flips r0 between
 * two addresses that often (a failover storm on one record). Prints "listening" when ready.
 */
import { EmbeddedDnsServer } from '../../apps/orchestrator/src/dns/embedded/embedded-dns.server';

const [port, records, flipMs] = process.argv.slice(2).map(Number);
const server = new EmbeddedDnsServer({ host: '127.0.0.1', port, zones: ['bench.test'] });
const record = (i: number, value: string, epoch: number) => ({
  zone: 'bench.test',
  name: `r${i}.bench.test`,
  type: 'A' as const,
  ttl: 30,
  value,
  epoch,
  scenarioId: `s${i}`,
});

server.start().then(
  () => {
    server.load(Array.from({ length: records }, (_, i) => record(i, `10.1.${i >> 8}.${i & 255}`, 1)));
    if (flipMs > 0) {
      let epoch = 1;
      setInterval(() => {
        epoch++;
        server.upsert(record(0, epoch % 2 ? '10.9.9.1' : '10.9.9.2', epoch));
      }, flipMs);
    }
    process.stdout.write('listening\n');
  },
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);
