import { ConfirmFenced, DryRun, ForceFence } from '../../operations/dtos/operation.dto';
import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { Type } from 'class-transformer';
import { GROUP_CONSISTENCY } from '../group-consistency';
import { PaginationQuery } from '../../common/dtos/pagination.dto';
import { NAME_PATTERN } from '../../nodes/dtos/node.dto';
import { OperationView } from '../../operations/operations.service';

export const MAX_GROUP_MEMBERS = 500;

export class CreateGroupDto {
  @ApiProperty({ example: 'paris-site', description: 'Unique name: lower-case letters, digits, dashes' })
  @IsString()
  @Matches(NAME_PATTERN, { message: 'name must be lower-case letters, digits and dashes (max 63)' })
  name: string;

  @ApiPropertyOptional({ example: 'Every service of the Paris site', default: '', maxLength: 512 })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  description?: string;

  @ApiPropertyOptional({
    example: true,
    default: false,
    description: 'When any member fails over, switch every member over too',
  })
  @IsOptional()
  @IsBoolean()
  switchAllIfAnyFails?: boolean;

  @ApiPropertyOptional({
    example: false,
    default: true,
    description:
      'With switchAllIfAnyFails: also switch members whose failoverMode is manual (true: the group moves together); false leaves them where they are (a manual-mode decision is recorded)',
  })
  @IsOptional()
  @IsBoolean()
  switchManualMembers?: boolean;

  @ApiPropertyOptional({
    type: [String],
    example: ['5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01'],
    description: 'Initial member scenarios',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_GROUP_MEMBERS)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  scenarioIds?: string[];
}

export class UpdateGroupDto extends PartialType(OmitType(CreateGroupDto, ['scenarioIds'] as const)) {}

export class SetGroupMembersDto {
  @ApiProperty({
    type: [String],
    example: ['5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01', '7e1d3b5f-0c8a-4d2b-9f4e-3a7b8c9d0e12'],
    description: 'The complete member list (replaces the current one); [] empties the group',
  })
  @IsArray()
  @ArrayMaxSize(MAX_GROUP_MEMBERS)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  scenarioIds: string[];
}

export class ListGroupsQuery extends PaginationQuery {
  @ApiPropertyOptional({
    example: '5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01',
    description: 'Only groups this scenario belongs to',
  })
  @IsOptional()
  @IsUUID()
  scenarioId?: string;
}

export class GroupView {
  @ApiProperty({ example: '1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b' }) id: string;
  @ApiProperty({ example: 'paris-site' }) name: string;
  @ApiProperty({ example: 'Every service of the Paris site' }) description: string;
  @ApiProperty({ example: true }) switchAllIfAnyFails: boolean;
  @ApiProperty({ example: true }) switchManualMembers: boolean;
  @ApiProperty({
    type: [String],
    example: ['5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01'],
    description: 'Member scenarios',
  })
  scenarioIds: string[];
  @ApiProperty({ example: '2025-01-31T12:00:00.000Z' }) createdAt: Date;
  @ApiProperty({ example: '2025-01-31T12:00:00.000Z' }) updatedAt: Date;
}

export class GroupPage {
  @ApiProperty({ type: [GroupView] }) items: GroupView[];
  @ApiProperty({ example: 1 }) total: number;
  @ApiProperty({ example: 50 }) limit: number;
  @ApiProperty({ example: 0 }) offset: number;
}

export class GroupOperationDto {
  @ApiProperty({
    example: 'Paris site maintenance, change 4711',
    description: 'Why (written to the audit log and to every member operation)',
  })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;

  @DryRun()
  dryRun?: boolean;
}

export class GroupFailoverDto extends GroupOperationDto {
  @ApiPropertyOptional({
    default: false,
    description:
      'Fence a member production whose agent is unreachable through its fencing hook or by waiting out its lease',
  })
  @IsOptional()
  @IsBoolean()
  force?: boolean;
}

export class GroupOperationRefusal {
  @ApiProperty({ example: '5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01' }) scenarioId: string;
  @ApiProperty({ example: 409, description: 'what the same request on this scenario alone would answer' })
  statusCode: number;
  @ApiProperty({ example: 'operation_in_progress' }) error: string;
  @ApiProperty({ example: 'another operation is running on this scenario: 0b6f…' }) message: string;
  @ApiProperty({ example: { operationId: '0b6f2c1e-7a8d-4e3f-9c2b-1d4e5f6a7b8c' } })
  details: Record<string, unknown>;
}

export class GroupOperationResult {
  @ApiProperty({ example: '1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b' }) groupId: string;
  @ApiProperty({ example: 'failover' }) type: string;
  @ApiProperty({
    type: 'array',
    items: { type: 'object' },
    description: 'the operations started, one per member (follow each at /api/v1/operations/{id})',
  })
  operations: OperationView[];
  @ApiProperty({ type: [GroupOperationRefusal], description: 'members that could not start, and why' })
  refused: GroupOperationRefusal[];
}

export class GroupMemberTarget {
  @ApiProperty({ description: 'a member scenario of the group' })
  @IsUUID()
  scenarioId: string;

  @ApiProperty({ description: 'the node that stays (or becomes) active for this member' })
  @IsUUID()
  activeNodeId: string;
}

export class GroupActiveServerRecoveryDto extends GroupOperationDto {
  @ApiPropertyOptional({
    enum: ['production', 'replica'],
    description:
      "The side every member keeps: `production` (each member's production node) or `replica` (the replica " +
      'already active, else its first replica). Required unless `members` names a node for every member',
  })
  @IsOptional()
  @IsIn(['production', 'replica'])
  keep?: 'production' | 'replica';

  @ApiPropertyOptional({
    type: [GroupMemberTarget],
    description: 'Per-member choice of the node to keep; wins over `keep` for the members it names',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_GROUP_MEMBERS)
  @ValidateNested({ each: true })
  @Type(() => GroupMemberTarget)
  members?: GroupMemberTarget[];

  @ForceFence()
  force?: boolean;

  @ConfirmFenced()
  confirmFenced?: boolean;
}

export class GroupMemberStatus {
  @ApiProperty() scenarioId: string;
  @ApiProperty() name: string;
  @ApiProperty({ example: 'running' }) state: string;
  @ApiProperty() activeNodeId: string;
  @ApiProperty() productionNodeId: string;
  @ApiProperty({
    enum: ['production', 'replica'],
    nullable: true,
    description: 'null when the member is not protected (stopped, starting, stopping)',
  })
  side: 'production' | 'replica' | null;
  @ApiProperty({ nullable: true, description: 'its pending or running operation' })
  operationId: string | null;
}

export class GroupStatusView {
  @ApiProperty() groupId: string;
  @ApiProperty() name: string;
  @ApiProperty({
    enum: GROUP_CONSISTENCY,
    description:
      'consistent: every protected member on one side; split: some on each; transitioning: a member operation is pending or running; inactive: no protected member',
  })
  consistency: string;
  @ApiProperty({ enum: ['production', 'replica'], nullable: true, description: 'the side (consistent only)' })
  side: 'production' | 'replica' | null;
  @ApiProperty({ example: 'active on production: db; active on a replica: web' }) reason: string;
  @ApiProperty({ nullable: true, description: 'when the current split was announced (group-split event)' })
  splitAnnouncedAt: Date | null;
  @ApiProperty({ type: [GroupMemberStatus] }) members: GroupMemberStatus[];
}
