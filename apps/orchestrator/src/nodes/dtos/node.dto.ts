import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  MaxLength,
  Validate,
  ValidatorConstraint,
  ValidateNested,
  ValidatorConstraintInterface,
} from 'class-validator';
import { IntersectionType } from '@nestjs/swagger';
import { PaginationQuery } from '../../common/dtos/pagination.dto';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const HOST_PATTERN =
  /^(([0-9]{1,3}\.){3}[0-9]{1,3}|[0-9a-fA-F:]+:[0-9a-fA-F:.]*|([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)$/;

@ValidatorConstraint({ name: 'labels' })
export class LabelsConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
    const entries = Object.entries(value as Record<string, unknown>);
    return (
      entries.length <= 32 &&
      entries.every(
        ([k, v]) => /^[a-z0-9][a-z0-9._-]{0,62}$/i.test(k) && typeof v === 'string' && v.length <= 128,
      )
    );
  }
  defaultMessage(): string {
    return 'labels must be an object of at most 32 string values (keys: letters, digits, . _ -; values ≤ 128 chars)';
  }
}

export class CreateNodeDto {
  @ApiProperty({ example: 'db-paris-1', description: 'Unique name: lower-case letters, digits, dashes' })
  @IsString()
  @Matches(NAME_PATTERN, { message: 'name must be lower-case letters, digits and dashes (max 63)' })
  name: string;

  @ApiProperty({
    example: '127.0.0.21',
    description: 'Address users reach; written to DNS when this node is active',
  })
  @IsString()
  @MaxLength(255)
  @Matches(HOST_PATTERN, { message: 'address must be an IPv4/IPv6 address or a host name' })
  address: string;

  @ApiProperty({
    example: 'http://127.0.0.21:7400',
    description: "Base URL of the node's heartbeat agent API",
  })
  @IsString()
  @MaxLength(255)
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  agentUrl: string;

  @ApiPropertyOptional({ example: { site: 'paris', rack: 'r12' } })
  @IsOptional()
  @IsObject()
  @Validate(LabelsConstraint)
  labels?: Record<string, string>;
}

export class UpdateNodeDto extends PartialType(CreateNodeDto) {}

export class ListNodesQuery extends IntersectionType(PaginationQuery) {
  @ApiPropertyOptional({ example: 'site=paris', description: 'Filter by label key=value' })
  @IsOptional()
  @IsString()
  @Matches(/^[^=]{1,63}=.{0,128}$/, { message: 'label must be key=value' })
  label?: string;
}

export class NodeView {
  @ApiProperty() id: string;
  @ApiProperty() name: string;
  @ApiProperty() address: string;
  @ApiProperty() agentUrl: string;
  @ApiProperty({ example: { site: 'paris' } }) labels: Record<string, string>;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;
}

export class NodeCredentialsView {
  @ApiProperty({ type: NodeView }) node: NodeView;
  @ApiProperty({ description: 'Token the agent presents on heartbeats (shown once)' }) agentToken: string;
  @ApiProperty({ description: "Token the orchestrator presents to the agent's action API (shown once)" })
  actionToken: string;
}

/** Most nodes one bulk request may register. */
export const MAX_BULK_NODES = 1000;

export class BulkCreateNodesDto {
  @ApiProperty({
    type: [CreateNodeDto],
    description: `1 to ${MAX_BULK_NODES} nodes, registered together or not at all`,
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BULK_NODES)
  @IsObject({ each: true, message: '$property must be a list of objects' })
  @ValidateNested({ each: true })
  @Type(() => CreateNodeDto)
  nodes: CreateNodeDto[];
}

export class BulkNodesView {
  @ApiProperty({ type: [NodeCredentialsView], description: 'in request order; tokens shown once' })
  items: NodeCredentialsView[];
}
