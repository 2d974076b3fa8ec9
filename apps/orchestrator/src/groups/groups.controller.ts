import {
  applyDecorators,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { UuidParamPipe } from '../common/validation';
import { InvalidInputError } from '../common/errors';
import { GroupSplitService } from './group-split.service';
import {
  CreateGroupDto,
  GroupActiveServerRecoveryDto,
  GroupStatusView,
  GroupFailoverDto,
  GroupOperationDto,
  GroupOperationResult,
  GroupPage,
  GroupView,
  ListGroupsQuery,
  SetGroupMembersDto,
  UpdateGroupDto,
} from './dtos/group.dto';
import { GroupsService } from './groups.service';
import {
  GroupOperationCommand,
  GroupOperationPlan,
  GroupOperationType,
  RequestGroupOperationUseCase,
} from './usecases/request-group-operation.usecase';
import type { FastifyReply } from 'fastify';

const GROUP_OPERATION_RESPONSES = [
  {
    status: 202,
    type: GroupOperationResult,
    description:
      'one operation per member that could start (each with groupId); members that could not (wrong state, busy) are listed in refused',
  },
  { status: 400, description: 'reason missing or a field is invalid' },
  { status: 403, description: 'needs the operator role' },
  { status: 404, description: 'unknown group' },
  {
    status: 409,
    description: 'the group has no members, or no member could start (body details.refused says why)',
  },
] as const;

/** The OpenAPI answers shared by the group operation routes. */
function GroupOperationDocs(summary: string): MethodDecorator {
  return applyDecorators(
    HttpCode(202),
    MinRole('operator'),
    ApiOperation({ summary }),
    ...GROUP_OPERATION_RESPONSES.map((r) => ApiResponse(r)),
  );
}

@ApiTags('groups')
@ApiBearerAuth()
@Controller('api/v1/groups')
export class GroupsController {
  constructor(
    private readonly groups: GroupsService,
    private readonly groupOperation: RequestGroupOperationUseCase,
    private readonly split: GroupSplitService,
  ) {}

  @Get(':id/status')
  @MinRole('viewer')
  @ApiOperation({
    summary: "Each member's state and active side, and whether the group is consistent or split (and why)",
  })
  @ApiResponse({ status: 200, type: GroupStatusView })
  @ApiResponse({ status: 404, description: 'unknown group' })
  status(@Param('id', UuidParamPipe) id: string): Promise<GroupStatusView> {
    return this.split.status(id);
  }

  @Post()
  @MinRole('admin')
  @ApiOperation({ summary: 'Create a group of scenarios, optionally with its first members' })
  @ApiResponse({ status: 201, type: GroupView })
  @ApiResponse({ status: 404, description: 'a scenario in scenarioIds does not exist' })
  @ApiResponse({ status: 409, description: 'name already used' })
  create(@Body() dto: CreateGroupDto, @CurrentPrincipal() p: Principal): Promise<GroupView> {
    return this.groups.create(dto, actorOf(p));
  }

  @Get()
  @MinRole('viewer')
  @ApiOperation({ summary: 'List groups (paginated; filter by member scenario)' })
  @ApiResponse({ status: 200, type: GroupPage })
  list(@Query() q: ListGroupsQuery): Promise<GroupPage> {
    return this.groups.list(q);
  }

  @Get(':id')
  @MinRole('viewer')
  @ApiOperation({ summary: 'One group with its member scenario ids' })
  @ApiResponse({ status: 200, type: GroupView })
  @ApiResponse({ status: 404, description: 'unknown group' })
  get(@Param('id', UuidParamPipe) id: string): Promise<GroupView> {
    return this.groups.get(id);
  }

  @Patch(':id')
  @MinRole('admin')
  @ApiOperation({ summary: 'Rename, describe, or change switch-all-if-any-fails' })
  @ApiResponse({ status: 200, type: GroupView })
  @ApiResponse({ status: 404, description: 'unknown group' })
  @ApiResponse({ status: 409, description: 'name already used' })
  update(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: UpdateGroupDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<GroupView> {
    return this.groups.update(id, dto, actorOf(p));
  }

  @Delete(':id')
  @MinRole('admin')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a group (its scenarios stay)' })
  @ApiResponse({ status: 204, description: 'deleted' })
  @ApiResponse({ status: 404, description: 'unknown group' })
  @ApiResponse({ status: 409, description: 'a group operation is pending or running' })
  async remove(@Param('id', UuidParamPipe) id: string, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.groups.remove(id, actorOf(p));
  }

  @Put(':id/members')
  @MinRole('admin')
  @ApiOperation({ summary: 'Replace the member list of a group' })
  @ApiResponse({ status: 200, type: GroupView })
  @ApiResponse({ status: 404, description: 'unknown group or scenario' })
  setMembers(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: SetGroupMembersDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<GroupView> {
    return this.groups.setMembers(id, dto.scenarioIds, actorOf(p));
  }

  @Post(':id/members/:scenarioId')
  @MinRole('admin')
  @HttpCode(200)
  @ApiOperation({ summary: 'Add one scenario to a group (no change when it is already a member)' })
  @ApiResponse({ status: 200, type: GroupView })
  @ApiResponse({ status: 404, description: 'unknown group or scenario' })
  addMember(
    @Param('id', UuidParamPipe) id: string,
    @Param('scenarioId', UuidParamPipe) scenarioId: string,
    @CurrentPrincipal() p: Principal,
  ): Promise<GroupView> {
    return this.groups.addMember(id, scenarioId, actorOf(p));
  }

  @Delete(':id/members/:scenarioId')
  @MinRole('admin')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove one scenario from a group' })
  @ApiResponse({ status: 204, description: 'removed' })
  @ApiResponse({ status: 404, description: 'unknown group, or the scenario is not a member' })
  async removeMember(
    @Param('id', UuidParamPipe) id: string,
    @Param('scenarioId', UuidParamPipe) scenarioId: string,
    @CurrentPrincipal() p: Principal,
  ): Promise<void> {
    await this.groups.removeMember(id, scenarioId, actorOf(p));
  }

  @Post(':id/failover')
  @GroupOperationDocs(
    'Fail over every member scenario (one operation each, same rules as a scenario failover)',
  )
  failover(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: GroupFailoverDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.request(id, 'failover', dto, p, res, dto.force === true);
  }

  @Post(':id/switchover')
  @GroupOperationDocs('Planned switchover of every member scenario')
  switchover(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: GroupOperationDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.request(id, 'switchover', dto, p, res);
  }

  @Post(':id/failback')
  @GroupOperationDocs('Fail back every member scenario that is failed over')
  failback(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: GroupOperationDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.request(id, 'failback', dto, p, res);
  }

  @Post(':id/start')
  @GroupOperationDocs('Start protecting every stopped member scenario')
  start(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: GroupOperationDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.request(id, 'start', dto, p, res);
  }

  @Post(':id/stop')
  @GroupOperationDocs('Stop protecting every member scenario')
  stop(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: GroupOperationDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.request(id, 'stop', dto, p, res);
  }

  @Post(':id/active-server-recovery')
  @GroupOperationDocs(
    'Group split recovery: keep one side (or a node per member) for every member, fence the other side with a new epoch, point DNS at the kept nodes',
  )
  activeServerRecovery(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: GroupActiveServerRecoveryDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    if (dto.confirmFenced === true && dto.force !== true)
      throw new InvalidInputError('confirmFenced needs force: true', 'confirmFenced');
    return this.request(id, 'active-server-recovery', dto, p, res, dto.force === true, {
      keep: dto.keep,
      members: dto.members,
      confirmFenced: dto.confirmFenced,
    });
  }

  /** Start the members' operations (202), or with dryRun answer their plans (200), changing nothing. */
  private request(
    groupId: string,
    type: GroupOperationType,
    dto: GroupOperationDto,
    p: Principal,
    res: FastifyReply,
    force?: boolean,
    recovery: Pick<GroupOperationCommand, 'keep' | 'members' | 'confirmFenced'> = {},
  ): Promise<GroupOperationResult | GroupOperationPlan> {
    const cmd = { groupId, type, requestedBy: actorOf(p), reason: dto.reason, force, ...recovery };
    if (dto.dryRun) {
      res.status(200);
      return this.groupOperation.plan(cmd);
    }
    return this.groupOperation.execute(cmd);
  }
}
