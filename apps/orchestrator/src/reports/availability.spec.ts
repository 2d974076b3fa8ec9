import { availability, AvailabilityInput } from './availability';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

function input(over: Partial<AvailabilityInput>): AvailabilityInput {
  return {
    since: at(0),
    until: at(1000),
    createdAt: at(-100),
    activeNodeIdNow: 'prod',
    operations: [],
    verdicts: [],
    failedOperations: 0,
    arResults: [],
    ...over,
  };
}

describe('availability', () => {
  it('no failure: 100 %, nothing counted', () => {
    const a = availability(input({}));
    expect(a).toMatchObject({
      periodMinutes: 1000,
      downtimeMinutes: 0,
      availabilityPercent: 100,
      failovers: 0,
      failureToDnsMs: { count: 0, mean: null, max: null },
      arTests: { total: 0, passed: 0, passRate: null },
    });
  });

  it('a failed production failed over: down from the failed verdict to DNS moved', () => {
    const a = availability(
      input({
        activeNodeIdNow: 'replica',
        verdicts: [
          { nodeId: 'prod', at: at(100), to: 'failed' },
          { nodeId: 'prod', at: at(300), to: 'healthy' },
        ],
        operations: [
          {
            type: 'failover',
            trigger: 'auto',
            createdAt: at(100.5),
            switchedAt: at(102),
            oldActiveNodeId: 'prod',
            targetNodeId: 'replica',
          },
        ],
      }),
    );
    expect(a.downtimeMinutes).toBe(2);
    expect(a.availabilityPercent).toBe(99.8);
    expect(a).toMatchObject({ failovers: 1, automaticFailovers: 1 });
    expect(a.failureToDnsMs).toEqual({ count: 1, mean: 120_000, max: 120_000 });
  });

  it('a failure nobody failed over (manual mode) counts until the node is back', () => {
    const a = availability(
      input({
        verdicts: [
          { nodeId: 'prod', at: at(-50), to: 'healthy' },
          { nodeId: 'prod', at: at(10), to: 'failed' },
          { nodeId: 'prod', at: at(40), to: 'suspect' },
          { nodeId: 'replica', at: at(500), to: 'failed' }, // not active: no downtime
        ],
      }),
    );
    expect(a.downtimeMinutes).toBe(30);
    expect(a.failovers).toBe(0);
  });

  it('clips to the period and to the scenario creation; a failure still open counts to the end', () => {
    const a = availability(
      input({
        createdAt: at(200),
        verdicts: [
          { nodeId: 'prod', at: at(150), to: 'failed' },
          { nodeId: 'prod', at: at(250), to: 'healthy' },
          { nodeId: 'prod', at: at(900), to: 'failed' },
        ],
      }),
    );
    expect(a.periodMinutes).toBe(800);
    expect(a.downtimeMinutes).toBe(50 + 100);
  });

  it('a planned switchover is no downtime; a failover after it is timed from its own failure', () => {
    const a = availability(
      input({
        activeNodeIdNow: 'prod',
        verdicts: [
          { nodeId: 'replica', at: at(400), to: 'failed' },
          { nodeId: 'replica', at: at(700), to: 'healthy' },
        ],
        operations: [
          {
            type: 'switchover',
            trigger: 'manual',
            createdAt: at(99),
            switchedAt: at(100),
            oldActiveNodeId: 'prod',
            targetNodeId: 'replica',
          },
          {
            type: 'failover',
            trigger: 'manual',
            createdAt: at(405),
            switchedAt: at(406),
            oldActiveNodeId: 'replica',
            targetNodeId: 'prod',
          },
        ],
        failedOperations: 2,
        arResults: ['passed', 'failed', 'passed', 'passed'],
      }),
    );
    expect(a.downtimeMinutes).toBe(6);
    expect(a).toMatchObject({ failovers: 1, automaticFailovers: 0, switchovers: 1, failedOperations: 2 });
    expect(a.failureToDnsMs).toEqual({ count: 1, mean: 360_000, max: 360_000 });
    expect(a.arTests).toEqual({ total: 4, passed: 3, passRate: 0.75 });
  });

  it('a failover of a healthy node (forced, planned) has no failure → DNS time', () => {
    const a = availability(
      input({
        verdicts: [
          { nodeId: 'prod', at: at(10), to: 'failed' },
          { nodeId: 'prod', at: at(20), to: 'healthy' },
        ],
        operations: [
          {
            type: 'failover',
            trigger: 'manual',
            createdAt: at(500),
            switchedAt: at(501),
            oldActiveNodeId: 'prod',
            targetNodeId: 'replica',
          },
        ],
      }),
    );
    expect(a.failureToDnsMs.count).toBe(0);
    expect(a.downtimeMinutes).toBe(10);
  });
});
