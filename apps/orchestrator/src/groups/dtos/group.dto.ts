import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
} from 'class-validator';
import { PaginationQuery } from '../../common/dtos/pagination.dto';
import { NAME_PATTERN } from '../../nodes/dtos/node.dto';

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
