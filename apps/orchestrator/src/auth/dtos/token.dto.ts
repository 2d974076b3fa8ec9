import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { PaginationQuery } from '../../common/dtos/pagination.dto';
import { API_ROLES, ApiRole } from '../api-token.entity';

/** Token names become the actor of audit entries, so they stay short and readable. */
export const TOKEN_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export class CreateTokenDto {
  @ApiProperty({
    example: 'noc-dashboard',
    description:
      'Unique name (1-64 lower-case letters, digits, ".", "_", "-"); it is the actor in the audit log',
  })
  @IsString()
  @Matches(TOKEN_NAME_PATTERN, { message: 'name must be 1-64 lower-case letters, digits, ".", "_" or "-"' })
  name: string;

  @ApiProperty({
    enum: API_ROLES,
    example: 'operator',
    description: 'viewer < operator < admin; alerter may only post alerts (for Alertmanager)',
  })
  @IsIn(API_ROLES)
  role: ApiRole;
}

export class ListTokensQuery extends PaginationQuery {
  @ApiPropertyOptional({ example: false, default: false, description: 'Include revoked tokens' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  includeRevoked?: boolean;
}

export class TokenView {
  @ApiProperty({ example: '0b6f3c1e-8a52-4d8e-9a1e-2f4c5d6e7f80' }) id: string;
  @ApiProperty({ example: 'noc-dashboard' }) name: string;
  @ApiProperty({ enum: API_ROLES, example: 'operator' }) role: ApiRole;
  @ApiProperty({ example: 'bootstrap-admin', description: 'Name of the token that created this one' })
  createdBy: string;
  @ApiProperty({ example: '2025-01-31T12:00:00.000Z' }) createdAt: Date;
  @ApiProperty({ example: null, nullable: true, type: Date }) revokedAt: Date | null;
}

export class TokenCreatedView extends TokenView {
  @ApiProperty({
    example: 'hat_Q2hhbmdlIG1lIGJ5IGNyZWF0aW5nIGEgdG9rZW4gdGhyb3VnaCB0aGUgQVBJ',
    description: 'The bearer token. Shown once: only its sha256 is stored',
  })
  token: string;
}

export class TokenPage {
  @ApiProperty({ type: [TokenView] }) items: TokenView[];
  @ApiProperty({ example: 1 }) total: number;
  @ApiProperty({ example: 50 }) limit: number;
  @ApiProperty({ example: 0 }) offset: number;
}
