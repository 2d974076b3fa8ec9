import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { UuidParamPipe } from '../common/validation';
import { AddNoteDto, DecisionPage, DecisionView, ListDecisionsQuery, NoteView } from './dtos/decision.dto';
import { DecisionsService } from './decisions.service';

@ApiTags('decisions')
@ApiBearerAuth()
@Controller('api/v1')
export class DecisionsController {
  constructor(private readonly decisions: DecisionsService) {}

  @Get('scenarios/:id/decisions')
  @MinRole('viewer')
  @ApiOperation({
    summary:
      "The detector's decisions about a scenario, newest first: each failover it requested and each it did not (maintenance, hold-down, storm brake, no quorum, manual mode, fencing blocked, split state), with evidence and thresholds",
  })
  @ApiResponse({ status: 200, type: DecisionPage })
  @ApiResponse({ status: 404, description: 'unknown scenario' })
  list(@Param('id', UuidParamPipe) id: string, @Query() q: ListDecisionsQuery) {
    return this.decisions.list(id, q);
  }

  @Get('decisions/:id')
  @MinRole('viewer')
  @ApiOperation({ summary: 'One decision with its evidence and notes' })
  @ApiResponse({ status: 200, type: DecisionView })
  @ApiResponse({ status: 404, description: 'unknown decision' })
  get(@Param('id', UuidParamPipe) id: string) {
    return this.decisions.get(id);
  }

  @Post('decisions/:id/notes')
  @MinRole('operator')
  @ApiOperation({ summary: 'Add a note to a decision (post-incident review); audited' })
  @ApiResponse({ status: 201, type: NoteView })
  @ApiResponse({ status: 404, description: 'unknown decision' })
  addDecisionNote(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: AddNoteDto,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.decisions.addNote('decision', id, dto.text, actorOf(p));
  }

  @Post('operations/:id/notes')
  @MinRole('operator')
  @ApiOperation({ summary: 'Add a note to an operation; audited' })
  @ApiResponse({ status: 201, type: NoteView })
  @ApiResponse({ status: 404, description: 'unknown operation' })
  addOperationNote(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: AddNoteDto,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.decisions.addNote('operation', id, dto.text, actorOf(p));
  }
}
