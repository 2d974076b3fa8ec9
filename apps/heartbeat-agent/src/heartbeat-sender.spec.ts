/**
 * The agent's estimate of orchestrator time survives a step of its own wall clock: it rests on the
 * monotonic clock, so an NTP step (or a bad RTC) right before an action does not make the action's
 * deadline look 10 minutes past (found by the chaos runner: a demote refused as "deadline passed
 * 570004 ms ago" one second after the agent's clock stepped back). A stub orchestrator on
 * 127.0.0.1 (ephemeral port) answers heartbeats with its real time; the agent's Date is stepped.
 */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import pino from 'pino';
import { HeartbeatSender } from './heartbeat-sender';

const NODE_ID = '6f1c3c1e-7d1a-4a39-9a57-5b2f4f0e1a01';

describe('HeartbeatSender clock', () => {
  let server: Server;
  let url: string;
  const realNow = Date.now.bind(Date);

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ nodeId: NODE_ID, serverTime: realNow() }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  afterEach(() => jest.restoreAllMocks());

  const sender = () =>
    new HeartbeatSender({
      orchestrators: [url],
      token: 'agent-token-0123456789',
      intervalMs: 1000,
      now: () => performance.now(),
      build: () =>
        ({ nodeId: NODE_ID, bootId: 'b', seq: 1, scenarios: [], checks: [], peerViews: [] }) as never,
      onResponse: () => undefined,
      logger: pino({ level: 'silent' }),
    });

  it('before any answer: its own clock, and no offset', () => {
    const s = sender();
    expect(s.hasClockOffset()).toBe(false);
    expect(s.clockOffsetMs()).toBe(0);
    expect(Math.abs(s.orchestratorNow() - realNow())).toBeLessThan(50);
    s.stop();
  });

  it.each([600_000, -600_000])(
    'after an answer, a wall-clock step of %d ms leaves orchestrator time right and shows as the offset',
    async (step) => {
      const s = sender();
      expect(await s.exchangeNow([], 2000)).toBe(true);
      expect(s.hasClockOffset()).toBe(true);
      expect(Math.abs(s.clockOffsetMs())).toBeLessThan(100);
      jest.spyOn(Date, 'now').mockImplementation(() => realNow() + step);
      // No answer since the step: the estimate is still the orchestrator's time, not ours + old offset.
      expect(Math.abs(s.orchestratorNow() - realNow())).toBeLessThan(100);
      expect(Math.abs(s.clockOffsetMs() + step)).toBeLessThan(100);
      s.stop();
    },
  );
});
