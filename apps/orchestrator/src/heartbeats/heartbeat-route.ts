/**
 * POST /api/v1/heartbeats as a plain Fastify route: the hottest path of the orchestrator (every
 * agent, every interval) does not go through Nest's guard, interceptor and class-validator chain.
 * The body is checked by the JSON limits hook (bootstrap), then by the HeartbeatRequest JSON Schema
 * compiled once with ajv; the token by the same cached AuthService lookup the API uses. Errors take
 * the same path and body shape as every other route (GlobalExceptionFilter).
 */
import {
  BadRequestException,
  ForbiddenException,
  Injectable,
  OnModuleInit,
  UnauthorizedException,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { FastifyInstance } from 'fastify';
import { HEARTBEAT_REQUEST_SCHEMA, HeartbeatRequest, ajvFieldPath } from '@ha/contracts';
import Ajv, { ErrorObject } from 'ajv';
import { AuthService } from '../auth/auth.service';
import { HeartbeatUdpServer } from './heartbeat-udp.server';
import { HeartbeatsService } from './heartbeats.service';

export const HEARTBEAT_PATH = '/api/v1/heartbeats';

const ajv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, strict: false });
const validateHeartbeat = ajv.compile<HeartbeatRequest>(HEARTBEAT_REQUEST_SCHEMA);

function describe(error: ErrorObject): { field: string; message: string } {
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  if (error.keyword === 'additionalProperties') {
    const field = ajvFieldPath(error.instancePath, params.additionalProperty);
    return { field, message: `property ${field} should not exist` };
  }
  const field = ajvFieldPath(error.instancePath, params.missingProperty);
  if (error.keyword === 'required') return { field, message: `${field} is required` };
  return { field, message: `${field} ${error.message ?? 'is invalid'}` };
}

/**
 * A heartbeat of a node carrying MAX_SCENARIOS_PER_NODE scenarios (about 80 bytes a scenario
 * report, plus as many confirmEpochs) fits; BODY_LIMIT_BYTES is for everything else.
 */
export const HEARTBEAT_BODY_LIMIT = 4 * 1024 * 1024;

/** Registers the route when the app initialises (with Nest's own routes, before Fastify is ready). */
@Injectable()
export class HeartbeatRoute implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly auth: AuthService,
    private readonly heartbeats: HeartbeatsService,
    private readonly udp: HeartbeatUdpServer,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.post(HEARTBEAT_PATH, { bodyLimit: HEARTBEAT_BODY_LIMIT }, async (req) => {
      const header = req.headers.authorization;
      const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
      if (!match) throw new UnauthorizedException('missing bearer token');
      const principal = await this.auth.resolve(match[1]);
      if (!principal) throw new UnauthorizedException('invalid or revoked token');
      if (principal.kind !== 'agent') throw new ForbiddenException('this endpoint takes a node agent token');
      const body = req.body;
      if (!validateHeartbeat(body)) {
        const { field, message } = describe(validateHeartbeat.errors![0]);
        throw new BadRequestException({
          error: 'validation_failed',
          message,
          details: { fields: [{ field, messages: [message] }] },
        });
      }
      if (principal.nodeId !== body.nodeId) {
        throw new ForbiddenException('an agent token may only post heartbeats for its own node');
      }
      this.udp.learnKey(body.nodeId, match[1]);
      return this.heartbeats.receive(body);
    });
  }
}

/** The route's entry in the OpenAPI document (Nest's scanner does not see plain Fastify routes). */
export const HEARTBEAT_OPENAPI = {
  post: {
    tags: ['agents'],
    summary: "Agent heartbeat (node agent token only, for the token's own node)",
    description:
      'Carries sequence, role/epoch per scenario, local check results, peer views, replica lag and the watchdog state. ' +
      'The answer tells the agent its scenarios, peers, lease and the epoch/role the orchestrator expects.',
    operationId: 'HeartbeatsController_receive',
    security: [{ bearer: [] }],
    requestBody: { required: true, content: { 'application/json': { schema: HEARTBEAT_REQUEST_SCHEMA } } },
    responses: {
      '200': { description: 'HeartbeatResponse' },
      '400': { description: 'invalid body (the message names the field)' },
      '401': { description: 'missing or invalid token' },
      '403': { description: 'token of another node, or not an agent token' },
      '409': { description: 'a role report at an epoch the orchestrator never issued' },
    },
  },
};
