import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import isURL from 'validator/lib/isURL';
import { ActionBatchRequest, ActionRequest, PeerHeartbeat } from '@ha/contracts';
import { BodyValidationError } from './errors';
import {
  ACTION_BATCH_REQUEST_SCHEMA,
  ACTION_REQUEST_SCHEMA,
  HEARTBEAT_RESPONSE_SCHEMA,
  PEER_HEARTBEAT_SCHEMA,
} from './schemas';
import { ObjectSchema, isHttpUrl, validatePlain } from './validation';

const UUID = '6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7';
type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function errorOf(schema: ObjectSchema, body: unknown, forbidUnknown = true): string | null {
  try {
    validatePlain(schema, body, { forbidUnknown });
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(BodyValidationError);
    return (err as Error).message;
  }
}

const classAccepts = (cls: new () => object, body: unknown): boolean =>
  validateSync(plainToInstance(cls, body as object), {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
  }).length === 0;

const action = (): Body => ({
  operationId: UUID,
  stepId: 'promote-1',
  scenarioId: UUID,
  epoch: 3,
  deadline: 1_800_000_000_000,
});
const peer = (): Body => ({ fromNodeId: UUID, scenarioId: UUID, role: 'replica', epoch: 3, sentAt: 1 });

// Each mutation, and whether the contract accepts it: the schema and the class must agree.
const contractCases: [string, ObjectSchema, new () => object, () => unknown, boolean][] = [
  ['action: valid', ACTION_REQUEST_SCHEMA, ActionRequest, action, true],
  ['action: epoch -1', ACTION_REQUEST_SCHEMA, ActionRequest, () => ({ ...action(), epoch: -1 }), false],
  ['action: epoch 1.5', ACTION_REQUEST_SCHEMA, ActionRequest, () => ({ ...action(), epoch: 1.5 }), false],
  [
    'action: epoch 2^31',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => ({ ...action(), epoch: 2 ** 31 }),
    false,
  ],
  ['action: epoch "3"', ACTION_REQUEST_SCHEMA, ActionRequest, () => ({ ...action(), epoch: '3' }), false],
  ['action: epoch null', ACTION_REQUEST_SCHEMA, ActionRequest, () => ({ ...action(), epoch: null }), false],
  [
    'action: uuid upper case',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => ({ ...action(), scenarioId: UUID.toUpperCase() }),
    true,
  ],
  [
    'action: uuid of version 0',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => ({ ...action(), scenarioId: '6f1c2a3b-4d5e-0f60-8a71-92b3c4d5e6f7' }),
    false,
  ],
  [
    'action: nil uuid',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => ({ ...action(), operationId: '00000000-0000-0000-0000-000000000000' }),
    true,
  ],
  [
    'action: stepId 128',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => ({ ...action(), stepId: 'x'.repeat(128) }),
    true,
  ],
  [
    'action: stepId 129',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => ({ ...action(), stepId: 'x'.repeat(129) }),
    false,
  ],
  [
    'action: stepId a number',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => ({ ...action(), stepId: 7 }),
    false,
  ],
  [
    'action: deadline beyond year 275760',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => ({ ...action(), deadline: 8.64e15 + 1 }),
    false,
  ],
  [
    'action: missing deadline',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => {
      const { deadline: _d, ...rest } = action();
      return rest;
    },
    false,
  ],
  [
    'action: unknown field',
    ACTION_REQUEST_SCHEMA,
    ActionRequest,
    () => ({ ...action(), command: 'rm -rf /' }),
    false,
  ],
  [
    'batch: valid',
    ACTION_BATCH_REQUEST_SCHEMA,
    ActionBatchRequest,
    () => ({ requests: [action(), action()] }),
    true,
  ],
  ['batch: empty', ACTION_BATCH_REQUEST_SCHEMA, ActionBatchRequest, () => ({ requests: [] }), false],
  ['batch: missing', ACTION_BATCH_REQUEST_SCHEMA, ActionBatchRequest, () => ({}), false],
  [
    'batch: not an array',
    ACTION_BATCH_REQUEST_SCHEMA,
    ActionBatchRequest,
    () => ({ requests: action() }),
    false,
  ],
  [
    'batch: an item not an object',
    ACTION_BATCH_REQUEST_SCHEMA,
    ActionBatchRequest,
    () => ({ requests: [action(), 'x'] }),
    false,
  ],
  [
    'batch: a bad item',
    ACTION_BATCH_REQUEST_SCHEMA,
    ActionBatchRequest,
    () => ({ requests: [action(), { ...action(), scenarioId: 'x' }] }),
    false,
  ],
  [
    'batch: an item with an unknown field',
    ACTION_BATCH_REQUEST_SCHEMA,
    ActionBatchRequest,
    () => ({ requests: [{ ...action(), x: 1 }] }),
    false,
  ],
  [
    'batch: 5,000',
    ACTION_BATCH_REQUEST_SCHEMA,
    ActionBatchRequest,
    () => ({ requests: Array.from({ length: 5000 }, action) }),
    true,
  ],
  [
    'batch: 5,001',
    ACTION_BATCH_REQUEST_SCHEMA,
    ActionBatchRequest,
    () => ({ requests: Array.from({ length: 5001 }, action) }),
    false,
  ],
  ['peer: valid', PEER_HEARTBEAT_SCHEMA, PeerHeartbeat, peer, true],
  ['peer: unknown role', PEER_HEARTBEAT_SCHEMA, PeerHeartbeat, () => ({ ...peer(), role: 'king' }), false],
  ['peer: sentAt negative', PEER_HEARTBEAT_SCHEMA, PeerHeartbeat, () => ({ ...peer(), sentAt: -1 }), false],
  [
    'peer: fromNodeId missing',
    PEER_HEARTBEAT_SCHEMA,
    PeerHeartbeat,
    () => ({ ...peer(), fromNodeId: undefined }),
    false,
  ],
  ['peer: unknown field', PEER_HEARTBEAT_SCHEMA, PeerHeartbeat, () => ({ ...peer(), extra: 1 }), false],
];

describe('the contract schemas say what the contract classes say', () => {
  it.each(contractCases)('%s', (_name, schema, cls, body, accepted) => {
    const b = body();
    expect(errorOf(schema, b) === null).toBe(accepted);
    expect(classAccepts(cls, b)).toBe(accepted);
  });

  it('name the field, with the words of class-validator', () => {
    expect(errorOf(ACTION_REQUEST_SCHEMA, { ...action(), epoch: -1 })).toBe('epoch must not be less than 0');
    expect(errorOf(ACTION_REQUEST_SCHEMA, { ...action(), epoch: '3' })).toBe(
      'epoch must be an integer number',
    );
    expect(errorOf(ACTION_REQUEST_SCHEMA, { ...action(), operationId: 'nope' })).toBe(
      'operationId must be a UUID',
    );
    expect(errorOf(ACTION_REQUEST_SCHEMA, { ...action(), stepId: 'x'.repeat(129) })).toBe(
      'stepId must be shorter than or equal to 128 characters',
    );
    expect(errorOf(ACTION_REQUEST_SCHEMA, { ...action(), command: 'x' })).toBe(
      'command is not a known field',
    );
    expect(errorOf(ACTION_REQUEST_SCHEMA, [action()])).toBe('body must be a JSON object');
    expect(errorOf(ACTION_BATCH_REQUEST_SCHEMA, { requests: [] })).toBe(
      'requests must contain at least 1 elements',
    );
    expect(
      errorOf(ACTION_BATCH_REQUEST_SCHEMA, { requests: [action(), { ...action(), scenarioId: 'x' }] }),
    ).toBe('requests[1].scenarioId must be a UUID');
    expect(errorOf(ACTION_BATCH_REQUEST_SCHEMA, { requests: [7] })).toBe('requests[0] must be an object');
    expect(errorOf(PEER_HEARTBEAT_SCHEMA, { ...peer(), role: 'king' })).toBe(
      'role must be one of the following values: production, replica, demoted, unknown',
    );
  });

  it('unknown fields are reported before the other errors of their object', () => {
    expect(errorOf(ACTION_REQUEST_SCHEMA, { epoch: 'x', shell: true })).toBe('shell is not a known field');
  });

  it('refuses NUL, lone surrogates and deep nesting before the schema', () => {
    expect(errorOf(ACTION_REQUEST_SCHEMA, { ...action(), stepId: 'a\u0000' })).toMatch(
      /^stepId must not contain NUL/,
    );
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(errorOf(ACTION_REQUEST_SCHEMA, { ...action(), stepId: deep })).toMatch(/nested deeper than 32/);
  });
});

describe('HEARTBEAT_RESPONSE_SCHEMA', () => {
  const assignment = (): Body => ({
    scenarioId: UUID,
    name: 'db',
    epoch: 2,
    role: 'production',
    productionNodeId: UUID,
    activeNodeId: UUID,
    leaseMs: 3000,
    peers: [{ nodeId: UUID, name: 'db-2', agentUrl: 'http://127.0.0.22:7400' }],
    peerToken: 'peer-token',
  });
  const answer = (): Body => ({
    nodeId: UUID,
    serverTime: 1_800_000_000_000,
    scenarios: [assignment()],
    assignmentVersion: 'v1',
    udpPort: 7401,
    owners: ['http://10.0.0.1:8080', 'https://orch-2.example.com'],
  });
  const check = (body: unknown) => errorOf(HEARTBEAT_RESPONSE_SCHEMA, body, false);

  it('takes a full answer, one without the optional fields, and ignores unknown ones', () => {
    expect(check(answer())).toBeNull();
    expect(check({ nodeId: UUID, serverTime: 0 })).toBeNull();
    expect(check({ nodeId: UUID, serverTime: 0, udpPort: null, owners: null })).toBeNull();
    expect(
      check({ ...answer(), newerField: { a: 1 }, scenarios: [{ ...assignment(), extra: true }] }),
    ).toBeNull();
    const many = Array.from({ length: 10_000 }, assignment);
    expect(check({ ...answer(), scenarios: many })).toBeNull();
  });

  it.each([
    ['not an object', 'ok', /^body must be a JSON object/],
    ['nodeId missing', { serverTime: 1 }, /^nodeId must be a UUID/],
    ['serverTime a string', { nodeId: UUID, serverTime: '1' }, /^serverTime must be an integer number/],
    ['serverTime negative', { nodeId: UUID, serverTime: -5 }, /^serverTime must not be less than 0/],
    ['scenarios not an array', { ...answer(), scenarios: {} }, /^scenarios must be an array/],
    ['an assignment not an object', { ...answer(), scenarios: [null] }, /^scenarios\[0\] must be an object/],
    [
      'more scenarios than a node may carry',
      { ...answer(), scenarios: Array.from({ length: 10_001 }, () => ({})) },
      /scenarios has more than 10000 elements|scenarios must contain no more than 10000 elements/,
    ],
    [
      'epoch beyond 2^31',
      { ...answer(), scenarios: [{ ...assignment(), epoch: 2 ** 31 }] },
      /^scenarios\[0\]\.epoch must not be greater/,
    ],
    [
      'unknown role',
      { ...answer(), scenarios: [{ ...assignment(), role: 'boss' }] },
      /^scenarios\[0\]\.role must be one of/,
    ],
    [
      'leaseMs 0',
      { ...answer(), scenarios: [{ ...assignment(), leaseMs: 0 }] },
      /^scenarios\[0\]\.leaseMs must not be less than 1/,
    ],
    [
      'empty peerToken',
      { ...answer(), scenarios: [{ ...assignment(), peerToken: '' }] },
      /^scenarios\[0\]\.peerToken must be longer/,
    ],
    [
      'peers missing',
      { ...answer(), scenarios: [{ ...assignment(), peers: undefined }] },
      /^scenarios\[0\]\.peers must be an array/,
    ],
    [
      '65 peers',
      {
        ...answer(),
        scenarios: [{ ...assignment(), peers: Array.from({ length: 65 }, () => assignment().peers[0]) }],
      },
      /^scenarios\[0\]\.peers must contain no more than 64 elements/,
    ],
    [
      'a peer URL without a scheme',
      {
        ...answer(),
        scenarios: [{ ...assignment(), peers: [{ nodeId: UUID, name: 'p', agentUrl: '10.0.0.2:7400' }] }],
      },
      /^scenarios\[0\]\.peers\[0\]\.agentUrl must be a URL address/,
    ],
    [
      'a file: peer URL',
      {
        ...answer(),
        scenarios: [
          { ...assignment(), peers: [{ nodeId: UUID, name: 'p', agentUrl: 'file:///etc/passwd' }] },
        ],
      },
      /agentUrl must be a URL address/,
    ],
    ['udpPort 0', { ...answer(), udpPort: 0 }, /^udpPort must not be less than 1/],
    ['udpPort 65536', { ...answer(), udpPort: 65_536 }, /^udpPort must not be greater than 65535/],
    ['owners not URLs', { ...answer(), owners: ['x'] }, /^owners\[0\] must be a URL address/],
    [
      '9 owners',
      { ...answer(), owners: Array.from({ length: 9 }, () => 'http://a:1') },
      /^owners must contain no more than 8/,
    ],
    [
      'assignmentVersion too long',
      { ...answer(), assignmentVersion: 'v'.repeat(65) },
      /^assignmentVersion must be shorter/,
    ],
  ])('refuses %s', (_name, body, expected) => {
    expect(check(body)).toMatch(expected);
  });
});

describe('isHttpUrl is validator.js isURL with the options the agent used', () => {
  const options = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };
  const corpus = [
    'http://127.0.0.1:8080',
    'http://127.0.0.1:8080/',
    'https://orch.example.com',
    'http://localhost',
    'http://orch-1:7400/base/path?x=1#f',
    'http://[::1]:8080',
    'http://[fe80::1%25eth0]:1',
    'http://user:pass@host:1',
    'http://:@host',
    'http://@host',
    'http://a:b:c@host',
    'http://host:0',
    'http://host:65536',
    'http://host:65535',
    'http://host:12ab',
    'http://host:',
    'http://1.2.3',
    'http://999.1.1.1',
    'http://under_score',
    'http://-leading',
    'http://trailing.',
    'http://' + 'a'.repeat(64),
    'http://' + 'a'.repeat(63),
    'http://x/' + 'a'.repeat(2100),
    'http:example.com',
    'http:8080',
    'http:user@host',
    'ftp://host',
    'HTTP://HOST',
    'mailto:x@y',
    'http://exa mple',
    'http://<x>',
    '127.0.0.1:8080',
    'localhost:8080',
    '//host',
    'http://',
    'https:///path',
    'http://ｆｕｌｌwidth',
    'http://bücher.example',
    '',
  ];
  it.each(corpus.map((u) => [u]))('%s', (url) => {
    expect(isHttpUrl(url)).toBe(isURL(url, options));
  });

  it('agrees on random URL-like strings', () => {
    const part = fc.stringMatching(/^[a-z0-9.:@\-_[\]%/]{0,12}$/);
    const url = fc
      .tuple(fc.constantFrom('http://', 'https://', 'http:', 'ftp://', 'HTTPS://', ''), part, part)
      .map(([scheme, a, b]) => `${scheme}${a}${b}`);
    fc.assert(
      fc.property(url, (u) => isHttpUrl(u) === isURL(u, options)),
      { numRuns: 5000, seed: 20261203 },
    );
  });
});
