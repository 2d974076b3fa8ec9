/**
 * The HeartbeatRequest contract as a JSON Schema, for the orchestrator's hot path: compiled once
 * (ajv), it validates a heartbeat without class-transformer or class-validator. It must say exactly
 * what the HeartbeatRequest class says; heartbeat.schema.spec.ts holds both to the same corpus.
 */
import { CHECK_STATUSES } from './checks';
import { MAX_SCENARIOS_PER_NODE, WATCHDOG_MODES } from './constants';
import { AGENT_ROLES, MAX_EPOCH } from './roles';

// The same UUID shape class-validator's IsUUID() ('all') accepts.
const UUID = {
  type: 'string',
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
} as const;
const NON_NEGATIVE_INT = { type: 'integer', minimum: 0 } as const;

export const HEARTBEAT_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['nodeId', 'seq', 'bootId', 'agentTime', 'scenarios', 'checks', 'peerViews'],
  properties: {
    nodeId: UUID,
    // seq goes to a bigint column and is compared as a number: beyond 2^53 both break.
    seq: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    bootId: { type: 'string', maxLength: 64 },
    agentTime: NON_NEGATIVE_INT,
    scenarios: {
      type: 'array',
      maxItems: MAX_SCENARIOS_PER_NODE,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['scenarioId', 'role', 'epoch'],
        properties: {
          scenarioId: UUID,
          role: { type: 'string', enum: [...AGENT_ROLES] },
          epoch: { type: 'integer', minimum: 0, maximum: MAX_EPOCH },
        },
      },
    },
    checks: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'status', 'durationMs', 'at'],
        properties: {
          name: { type: 'string', maxLength: 64 },
          status: { type: 'string', enum: [...CHECK_STATUSES] },
          output: { type: 'string', maxLength: 1024 },
          durationMs: NON_NEGATIVE_INT,
          at: NON_NEGATIVE_INT,
        },
      },
    },
    peerViews: {
      type: 'array',
      maxItems: MAX_SCENARIOS_PER_NODE,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['nodeId', 'reachable'],
        properties: {
          nodeId: UUID,
          lastSeenMsAgo: { type: ['integer', 'null'], minimum: 0 },
          reachable: { type: 'boolean' },
        },
      },
    },
    replicaLagSeconds: { type: 'number', minimum: 0, maximum: 1e9 },
    watchdog: {
      type: 'object',
      additionalProperties: false,
      required: ['mode', 'armed'],
      properties: {
        mode: { type: 'string', enum: [...WATCHDOG_MODES] },
        armed: { type: 'boolean' },
      },
    },
    confirmEpochs: { type: 'array', maxItems: MAX_SCENARIOS_PER_NODE, items: UUID },
    assignmentVersion: { type: 'string', maxLength: 64 },
  },
} as const;

/** One ajv error as our error bodies name fields: `/scenarios/0/epoch` → `scenarios[0].epoch`. */
export function ajvFieldPath(instancePath: string, missingOrExtra?: string): string {
  let out = '';
  for (const part of instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out ? `.${key}` : key;
  }
  if (missingOrExtra) out += out ? `.${missingOrExtra}` : missingOrExtra;
  return out || 'body';
}
