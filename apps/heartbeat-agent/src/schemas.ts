/**
 * What the agent takes from the network, as validation schemas (validation.ts): the orchestrator's
 * action requests and heartbeat answers, and peer heartbeats. The first three say what the
 * contracts' classes say (schemas.spec.ts holds them to one corpus with class-validator); the
 * heartbeat answer is declared as interfaces only in libs/contracts, and the agent acts on it
 * (self-demotion), so its shape is checked here. Unknown fields of answers are ignored, so a newer
 * orchestrator can add fields.
 */
import { MAX_ACTION_BATCH, MAX_SCENARIOS_PER_NODE } from '@ha/contracts/constants';
import { AGENT_ROLES, MAX_EPOCH } from '@ha/contracts/roles';
import type { ScenarioAssignment } from '@ha/contracts';
import { ObjectSchema, Schema } from './validation';

const EPOCH: Schema = { type: 'integer', minimum: 0, maximum: MAX_EPOCH };
const NON_NEGATIVE_INT: Schema = { type: 'integer', minimum: 0 };

/** POST /actions/{action} (ActionRequest). */
export const ACTION_REQUEST_SCHEMA: ObjectSchema = {
  type: 'object',
  properties: {
    operationId: { type: 'uuid' },
    stepId: { type: 'string', maxLength: 128 },
    scenarioId: { type: 'uuid' },
    epoch: EPOCH,
    deadline: { type: 'integer', minimum: 0, maximum: 8_640_000_000_000_000 },
  },
};

/** POST /actions/{action}/batch (ActionBatchRequest). */
export const ACTION_BATCH_REQUEST_SCHEMA: ObjectSchema = {
  type: 'object',
  properties: {
    requests: { type: 'array', minItems: 1, maxItems: MAX_ACTION_BATCH, items: ACTION_REQUEST_SCHEMA },
  },
};

/** POST /peer/heartbeat, both ways (PeerHeartbeat). */
export const PEER_HEARTBEAT_SCHEMA: ObjectSchema = {
  type: 'object',
  properties: {
    fromNodeId: { type: 'uuid' },
    scenarioId: { type: 'uuid' },
    role: { type: 'enum', values: AGENT_ROLES },
    epoch: EPOCH,
    sentAt: NON_NEGATIVE_INT,
  },
};

const SCENARIO_ASSIGNMENT_SCHEMA: ObjectSchema = {
  type: 'object',
  properties: {
    scenarioId: { type: 'uuid' },
    name: { type: 'string', maxLength: 256 },
    epoch: EPOCH,
    role: { type: 'enum', values: AGENT_ROLES },
    productionNodeId: { type: 'uuid' },
    activeNodeId: { type: 'uuid' },
    leaseMs: { type: 'integer', minimum: 1 },
    peers: {
      type: 'array',
      maxItems: 64,
      items: {
        type: 'object',
        properties: {
          nodeId: { type: 'uuid' },
          name: { type: 'string', maxLength: 256 },
          agentUrl: { type: 'http-url' },
        },
      },
    },
    peerToken: { type: 'string', minLength: 1, maxLength: 4096 },
  },
};

/** The orchestrator's answer to a heartbeat (HeartbeatResponse). */
export const HEARTBEAT_RESPONSE_SCHEMA: ObjectSchema = {
  type: 'object',
  properties: {
    nodeId: { type: 'uuid' },
    serverTime: NON_NEGATIVE_INT,
    /** Absent when unchanged since the assignmentVersion the heartbeat sent. */
    scenarios: {
      type: 'array',
      optional: true,
      maxItems: MAX_SCENARIOS_PER_NODE,
      items: SCENARIO_ASSIGNMENT_SCHEMA,
    },
    assignmentVersion: { type: 'string', optional: true, maxLength: 64 },
    udpPort: { type: 'integer', optional: true, minimum: 1, maximum: 65535 },
    owners: { type: 'array', optional: true, maxItems: 8, items: { type: 'http-url' } },
  },
};

/** Plain copy with the known fields only (what is compared and persisted). */
export function toPlainAssignment(a: ScenarioAssignment): ScenarioAssignment {
  return {
    scenarioId: a.scenarioId,
    name: a.name,
    epoch: a.epoch,
    role: a.role,
    productionNodeId: a.productionNodeId,
    activeNodeId: a.activeNodeId,
    leaseMs: a.leaseMs,
    peers: a.peers.map((p) => ({ nodeId: p.nodeId, name: p.name, agentUrl: p.agentUrl })),
    peerToken: a.peerToken,
  };
}
