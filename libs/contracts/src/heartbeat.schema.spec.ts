import 'reflect-metadata';
import Ajv from 'ajv';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { HeartbeatRequest } from './heartbeat';
import { HEARTBEAT_REQUEST_SCHEMA, ajvFieldPath } from './heartbeat.schema';

const validate = new Ajv({ strict: false }).compile(HEARTBEAT_REQUEST_SCHEMA);
const UUID = '6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7';

const good = () => ({
  nodeId: UUID,
  seq: 5,
  bootId: 'boot-1',
  agentTime: 1_800_000_000_000,
  scenarios: [{ scenarioId: UUID, role: 'production', epoch: 3 }],
  checks: [{ name: 'app', status: 'ok', output: 'fine', durationMs: 3, at: 1 }],
  peerViews: [
    { nodeId: UUID, lastSeenMsAgo: 100, reachable: true },
    { nodeId: UUID, lastSeenMsAgo: null, reachable: false },
  ],
  replicaLagSeconds: 0.5,
  watchdog: { mode: 'process', armed: true },
  confirmEpochs: [UUID],
});

const classAccepts = (body: unknown) =>
  validateSync(plainToInstance(HeartbeatRequest, body as object), {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
  }).length === 0;

// Each mutation of a valid body, and whether the contract accepts it.
const cases: [string, (b: Record<string, any>) => unknown, boolean][] = [
  ['valid', (b) => b, true],
  [
    'without the optional fields',
    (b) => {
      const { replicaLagSeconds: _l, watchdog: _w, confirmEpochs: _c, ...rest } = b;
      return rest;
    },
    true,
  ],
  ['seq as a string', (b) => ({ ...b, seq: '5' }), false],
  ['negative seq', (b) => ({ ...b, seq: -1 }), false],
  ['fractional seq', (b) => ({ ...b, seq: 1.5 }), false],
  [
    'missing bootId',
    (b) => {
      const { bootId: _b, ...rest } = b;
      return rest;
    },
    false,
  ],
  ['bootId too long', (b) => ({ ...b, bootId: 'x'.repeat(65) }), false],
  ['peerViews not an array', (b) => ({ ...b, peerViews: 'all good' }), false],
  ['reachable as a string', (b) => ({ ...b, peerViews: [{ nodeId: UUID, reachable: 'yes' }] }), false],
  ['peer nodeId not a UUID', (b) => ({ ...b, peerViews: [{ nodeId: 'x', reachable: true }] }), false],
  [
    'unknown check status',
    (b) => ({ ...b, checks: [{ name: 'a', status: 'dead', durationMs: 1, at: 1 }] }),
    false,
  ],
  ['check output too long', (b) => ({ ...b, checks: [{ ...b.checks[0], output: 'x'.repeat(1025) }] }), false],
  ['epoch beyond 2^31', (b) => ({ ...b, scenarios: [{ ...b.scenarios[0], epoch: 2 ** 31 }] }), false],
  ['unknown role', (b) => ({ ...b, scenarios: [{ ...b.scenarios[0], role: 'king' }] }), false],
  ['unknown top-level field', (b) => ({ ...b, command: 'rm -rf /' }), false],
  ['unknown nested field', (b) => ({ ...b, checks: [{ ...b.checks[0], shell: 'x' }] }), false],
  ['too many checks', (b) => ({ ...b, checks: Array.from({ length: 257 }, () => b.checks[0]) }), false],
  ['1,000 scenarios', (b) => ({ ...b, scenarios: Array.from({ length: 1000 }, () => b.scenarios[0]) }), true],
  ['watchdog mode unknown', (b) => ({ ...b, watchdog: { mode: 'device', armed: true } }), false],
  ['confirmEpochs not UUIDs', (b) => ({ ...b, confirmEpochs: ['x'] }), false],
  ['replica lag negative', (b) => ({ ...b, replicaLagSeconds: -1 }), false],
];

describe('HEARTBEAT_REQUEST_SCHEMA says what the HeartbeatRequest class says', () => {
  it.each(cases)('%s', (_name, mutate, accepted) => {
    const body = mutate(good());
    expect(validate(body)).toBe(accepted);
    expect(classAccepts(body)).toBe(accepted);
  });

  it('names fields as the error bodies do', () => {
    expect(ajvFieldPath('/scenarios/0/epoch')).toBe('scenarios[0].epoch');
    expect(ajvFieldPath('', 'bootId')).toBe('bootId');
    expect(ajvFieldPath('/checks/2', 'shell')).toBe('checks[2].shell');
    expect(ajvFieldPath('')).toBe('body');
  });
});
