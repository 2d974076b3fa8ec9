import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { UuidParamPipe } from '../common/validation';
import {
  BulkCreateNodesDto,
  BulkNodesView,
  CreateNodeDto,
  ListNodesQuery,
  NodeCredentialsView,
  NodeView,
  UpdateNodeDto,
} from './dtos/node.dto';
import { NodesService, toNodeView } from './nodes.service';

@ApiTags('nodes')
@ApiBearerAuth()
@Controller('api/v1/nodes')
export class NodesController {
  constructor(private readonly nodes: NodesService) {}

  @Post()
  @MinRole('admin')
  @ApiOperation({ summary: 'Register a node; returns its agent and action tokens once' })
  @ApiResponse({ status: 201, type: NodeCredentialsView })
  @ApiResponse({ status: 409, description: 'name already used' })
  create(@Body() dto: CreateNodeDto, @CurrentPrincipal() p: Principal): Promise<NodeCredentialsView> {
    return this.nodes.create(dto, actorOf(p));
  }

  @Post('bulk')
  @MinRole('admin')
  @ApiOperation({
    summary: "Register many nodes in one transaction (all or none); returns each one's tokens once",
  })
  @ApiResponse({ status: 201, type: BulkNodesView })
  @ApiResponse({ status: 409, description: 'a name taken (or twice in the request); field names the node' })
  async createMany(
    @Body() dto: BulkCreateNodesDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<BulkNodesView> {
    return { items: await this.nodes.createMany(dto.nodes, actorOf(p)) };
  }

  @Get()
  @MinRole('viewer')
  @ApiOperation({ summary: 'List nodes (paginated, filter by label)' })
  list(@Query() q: ListNodesQuery) {
    return this.nodes.list(q);
  }

  @Get(':id')
  @MinRole('viewer')
  @ApiResponse({ status: 200, type: NodeView })
  async get(@Param('id', UuidParamPipe) id: string): Promise<NodeView> {
    return toNodeView(await this.nodes.get(id));
  }

  @Patch(':id')
  @MinRole('admin')
  @ApiResponse({ status: 200, type: NodeView })
  update(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: UpdateNodeDto,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.nodes.update(id, dto, actorOf(p));
  }

  @Post(':id/rotate-tokens')
  @MinRole('admin')
  @ApiOperation({ summary: 'Issue new agent and action tokens (the old ones stop working)' })
  @ApiResponse({ status: 201, type: NodeCredentialsView })
  rotate(@Param('id', UuidParamPipe) id: string, @CurrentPrincipal() p: Principal) {
    return this.nodes.rotateTokens(id, actorOf(p));
  }

  @Delete(':id')
  @MinRole('admin')
  @HttpCode(204)
  @ApiResponse({ status: 409, description: 'a scenario uses the node' })
  async remove(@Param('id', UuidParamPipe) id: string, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.nodes.remove(id, actorOf(p));
  }
}
