import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUrl,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { PaginationQuery } from '../../common/dtos/pagination.dto';
import { EVENT_KINDS } from '../../detection/event.entity';
import { DELIVERY_STATES, DeliveryState } from '../webhook.entity';

/** What a subscription may ask for: every event kind, plus the operation progress ones and `ping`. */
export const WEBHOOK_KINDS = [
  ...new Set<string>([...EVENT_KINDS, 'operation-started', 'step-finished', 'ping']),
].sort();

export class CreateWebhookDto {
  @ApiProperty({ example: 'noc-pager', description: 'unique; letters, digits, . _ -' })
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message:
      'name must be 1-64 letters, digits, dots, underscores or dashes, starting with a letter or digit',
  })
  name: string;

  @ApiProperty({ example: 'https://noc.example.com/hooks/ha' })
  @IsString()
  @MaxLength(2048)
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['http', 'https'] },
    { message: 'url must be an http or https URL' },
  )
  url: string;

  @ApiPropertyOptional({
    description: 'event kinds delivered (none or empty: all)',
    enum: WEBHOOK_KINDS,
    isArray: true,
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsIn(WEBHOOK_KINDS, { each: true })
  kinds?: string[];

  @ApiPropertyOptional({ description: "only this scenario's events" })
  @IsOptional()
  @IsUUID()
  scenarioId?: string | null;

  @ApiPropertyOptional({ description: "only events of this group's member scenarios" })
  @IsOptional()
  @IsUUID()
  groupId?: string | null;

  @ApiPropertyOptional({
    description: 'HMAC-SHA256 key for X-HA-Signature (16-256 characters); write-only',
    writeOnly: true,
  })
  @IsOptional()
  @IsString()
  @MinLength(16)
  @MaxLength(256)
  secret?: string | null;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({ default: 12, minimum: 1, maximum: 20, description: 'attempts before dead' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(20)
  maxAttempts?: number;

  @ApiPropertyOptional({ default: 5000, minimum: 500, maximum: 30000 })
  @IsOptional()
  @IsInt()
  @Min(500)
  @Max(30000)
  timeoutMs?: number;
}

export class UpdateWebhookDto extends PartialType(CreateWebhookDto) {}

export class WebhookView {
  @ApiProperty() id: string;
  @ApiProperty() name: string;
  @ApiProperty() url: string;
  @ApiProperty({ type: [String] }) kinds: string[];
  @ApiProperty({ nullable: true, type: String }) scenarioId: string | null;
  @ApiProperty({ nullable: true, type: String }) groupId: string | null;
  @ApiProperty({ description: 'whether deliveries are signed (the secret is never shown)' })
  secretSet: boolean;
  @ApiProperty() enabled: boolean;
  @ApiProperty() maxAttempts: number;
  @ApiProperty() timeoutMs: number;
  @ApiProperty({ enum: ['env', 'api'] }) source: 'env' | 'api';
  @ApiProperty() createdBy: string;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;
}

export class WebhookPage {
  @ApiProperty({ type: [WebhookView] }) items: WebhookView[];
  @ApiProperty() total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
}

export class ListDeliveriesQuery extends PaginationQuery {
  @ApiPropertyOptional({ enum: DELIVERY_STATES })
  @IsOptional()
  @IsIn(DELIVERY_STATES)
  state?: DeliveryState;
}

export class DeliveryView {
  @ApiProperty() id: string;
  @ApiProperty() subscriptionId: string;
  @ApiProperty({ description: 'X-HA-Event-Id of the event' }) eventId: string;
  @ApiProperty() kind: string;
  @ApiProperty({ enum: DELIVERY_STATES }) state: DeliveryState;
  @ApiProperty() attempts: number;
  @ApiProperty({ nullable: true, type: Number }) responseStatus: number | null;
  @ApiProperty({ nullable: true, type: String }) error: string | null;
  @ApiProperty({ nullable: true, type: Number }) latencyMs: number | null;
  @ApiProperty({ nullable: true, type: String }) redeliveryOf: string | null;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;
  @ApiProperty({ nullable: true, type: Date }) deliveredAt: Date | null;
  @ApiPropertyOptional({ description: 'the body sent (one delivery only)' }) body?: Record<string, unknown>;
}

export class DeliveryPage {
  @ApiProperty({ type: [DeliveryView] }) items: DeliveryView[];
  @ApiProperty() total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
}

export class RedeliverDto {
  @ApiPropertyOptional({ example: 'receiver fixed after INC-88' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason?: string;
}
