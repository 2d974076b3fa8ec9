import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deleteRedisKeys,
  dropSchema,
  ROOT,
  TEST_DATABASE_URL,
  uniqueName,
  waitFor,
} from './support/orchestrator';

/** The README's first command: `npm run demo` brings up a working failover, and Ctrl-C stops it all. */
describe('npm run demo', () => {
  const schema = uniqueName('demo');
  const dir = mkdtempSync(join(tmpdir(), 'ha-demo-'));
  const DNS_PORT = 15150;
  let demo: ChildProcess;
  let out = '';

  afterAll(async () => {
    if (demo && demo.exitCode === null) demo.kill('SIGKILL');
    // Agents the demo started die with it (SIGTERM on exit); make sure nothing is left.
    try {
      execFileSync('pkill', ['-KILL', '-f', dir]);
    } catch {
      /* none left */
    }
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
    await deleteRedisKeys(`hatest:${schema}`);
  });

  const dig = () =>
    execFileSync('dig', ['@127.0.0.1', '-p', String(DNS_PORT), 'app.demo.test', '+short', '+time=1'])
      .toString()
      .trim();

  it('starts, answers the production address, flips DNS after kill -9, and stops cleanly', async () => {
    demo = spawn(process.execPath, [join(ROOT, 'dist/apps/orchestrator/src/demo/demo.js')], {
      env: {
        ...process.env,
        DATABASE_URL: TEST_DATABASE_URL,
        DATABASE_SCHEMA: schema,
        REDIS_PREFIX: `hatest:${schema}`,
        HTTP_PORT: '18150',
        DNS_PORT: String(DNS_PORT),
        DEMO_PRODUCTION_ADDRESS: '127.0.0.151',
        DEMO_REPLICA_ADDRESS: '127.0.0.152',
        DEMO_AGENT_PORT: '17150',
        DEMO_DIR: dir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout!.on('data', (d) => (out += d));
    demo.stderr!.on('data', (d) => (out += d));
    await waitFor('demo banner', async () => out.includes('demo is running'), 60000);
    expect(out).toMatch(/admin token\s+demo_/);
    expect(dig()).toBe('127.0.0.151');

    const pid = Number(/kill -9 (\d+)/.exec(out)![1]);
    process.kill(pid, 'SIGKILL');
    try {
      await waitFor('DNS answers the replica', async () => dig() === '127.0.0.152', 30000, 50);
    } catch (e) {
      console.log(out.slice(-3000));
      console.log(
        execFileSync('sh', [
          '-c',
          `cat ${dir}/*/agent.log ${dir}/*/*.watchdog.sock.log | cut -c1-400`,
        ]).toString(),
      );
      throw e;
    }

    demo.kill('SIGINT');
    await waitFor('demo exit', async () => demo.exitCode !== null, 20000);
    expect(demo.exitCode).toBe(0);
    await waitFor(
      'demo agents gone',
      async () => {
        try {
          execFileSync('pgrep', ['-f', dir]);
          return false;
        } catch {
          return true;
        }
      },
      10000,
    );
  });
});
