import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { UuidParamPipe } from '../common/validation';
import {
  BulkCreateScenariosDto,
  BulkScenariosView,
  CreateScenarioDto,
  ListScenariosQuery,
  ScenarioView,
  UpdateScenarioDto,
} from './dtos/scenario.dto';
import { ScenariosService, toScenarioView } from './scenarios.service';

@ApiTags('scenarios')
@ApiBearerAuth()
@Controller('api/v1/scenarios')
export class ScenariosController {
  constructor(private readonly scenarios: ScenariosService) {}

  @Post()
  @MinRole('admin')
  @ApiOperation({ summary: 'Create a scenario (state stopped; start it with POST /scenarios/{id}/start)' })
  @ApiResponse({ status: 201, type: ScenarioView })
  @ApiResponse({
    status: 409,
    description: 'duplicate name, DNS name taken, or a replica equal to production',
  })
  create(@Body() dto: CreateScenarioDto, @CurrentPrincipal() p: Principal): Promise<ScenarioView> {
    return this.scenarios.create(dto, actorOf(p));
  }

  @Post('bulk')
  @MinRole('admin')
  @ApiOperation({
    summary:
      'Create many scenarios in one transaction (all or none; each stopped, start them with POST /scenarios/bulk/start)',
  })
  @ApiResponse({ status: 201, type: BulkScenariosView })
  @ApiResponse({
    status: 409,
    description: 'a name or DNS name taken (or twice in the request); field names the scenario',
  })
  async createMany(
    @Body() dto: BulkCreateScenariosDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<BulkScenariosView> {
    return { items: await this.scenarios.createMany(dto.scenarios, actorOf(p)) };
  }

  @Get()
  @MinRole('viewer')
  @ApiOperation({ summary: 'List scenarios (paginated; filter by state, group, node, production label)' })
  list(@Query() q: ListScenariosQuery) {
    return this.scenarios.list(q);
  }

  @Get(':id')
  @MinRole('viewer')
  @ApiResponse({ status: 200, type: ScenarioView })
  async get(@Param('id', UuidParamPipe) id: string): Promise<ScenarioView> {
    return toScenarioView(await this.scenarios.get(id));
  }

  @Patch(':id')
  @MinRole('admin')
  @ApiOperation({ summary: 'Change mode, checks, policy; nodes and DNS records only while stopped' })
  @ApiResponse({ status: 200, type: ScenarioView })
  update(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: UpdateScenarioDto,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.scenarios.update(id, dto, actorOf(p));
  }

  @Delete(':id')
  @MinRole('admin')
  @HttpCode(204)
  @ApiResponse({ status: 409, description: 'scenario not stopped' })
  async remove(@Param('id', UuidParamPipe) id: string, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.scenarios.remove(id, actorOf(p));
  }
}
