import { Body, Controller, ForbiddenException, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HeartbeatRequest, HeartbeatResponse } from '@ha/contracts';
import { AgentOnly, CurrentPrincipal } from '../auth/auth.decorators';
import { Principal } from '../auth/principal';
import { InvalidInputError } from '../common/errors';
import { HeartbeatsService } from './heartbeats.service';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('api/v1/heartbeats')
export class HeartbeatsController {
  constructor(private readonly heartbeats: HeartbeatsService) {}

  @Post()
  @HttpCode(200)
  @AgentOnly()
  @ApiOperation({
    summary: "Agent heartbeat (node agent token only, for the token's own node)",
    description:
      'Carries sequence, role/epoch per scenario, local check results, peer views and replica lag. ' +
      'The answer tells the agent its scenarios, peers, lease and the epoch/role the orchestrator expects.',
  })
  @ApiResponse({ status: 200, description: 'HeartbeatResponse' })
  @ApiResponse({ status: 403, description: 'token of another node, or not an agent token' })
  receive(
    @Body() body: HeartbeatRequest,
    @CurrentPrincipal() p: Principal,
  ): HeartbeatResponse | Promise<HeartbeatResponse> {
    if (p.kind !== 'agent' || p.nodeId !== body.nodeId) {
      throw new ForbiddenException('an agent token may only post heartbeats for its own node');
    }
    // seq goes to a bigint column and is compared as a number: beyond 2^53 both break.
    if (body.seq > Number.MAX_SAFE_INTEGER) {
      throw new InvalidInputError(`seq must not be greater than ${Number.MAX_SAFE_INTEGER}`, 'seq');
    }
    return this.heartbeats.receive(body);
  }
}
