import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsISO8601,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
  Validate,
  ValidateNested,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';
import { PaginationQuery } from '../../common/dtos/pagination.dto';
import { ALERT_STATES, AlertState } from '../alert.entity';
import { ALERT_SOURCES, AlertSource } from '../alert-mapping';

/** The most alerts one request may carry (Alertmanager's max_alerts should stay at or below it). */
export const MAX_ALERTS_PER_REQUEST = 500;

/** Prometheus label sets: string values only, bounded in count and size. */
@ValidatorConstraint({ name: 'alertLabels' })
export class AlertLabelsConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
    const entries = Object.entries(value as Record<string, unknown>);
    return (
      entries.length <= 64 &&
      entries.every(
        ([k, v]) => /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/.test(k) && typeof v === 'string' && v.length <= 2048,
      )
    );
  }
  defaultMessage(): string {
    return '$property must be an object of at most 64 string values (keys: letters, digits, _ . -, ≤ 128 chars; values ≤ 2048 chars)';
  }
}

@ValidatorConstraint({ name: 'hasAlertname' })
export class HasAlertnameConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    const name = (value as Record<string, unknown> | null)?.alertname;
    return typeof name === 'string' && name.length > 0 && name.length <= 256;
  }
  defaultMessage(): string {
    return '$property must hold alertname (1-256 chars)';
  }
}

const LABELS_EXAMPLE = { alertname: 'PostgresDown', severity: 'critical', instance: 'db1:9187' };

export class AlertmanagerAlertDto {
  @ApiProperty({ enum: ['firing', 'resolved'] })
  @IsIn(['firing', 'resolved'])
  status: 'firing' | 'resolved';

  @ApiProperty({ example: LABELS_EXAMPLE, description: 'must hold alertname' })
  @IsObject()
  @Validate(AlertLabelsConstraint)
  @Validate(HasAlertnameConstraint)
  labels: Record<string, string>;

  @ApiPropertyOptional({ example: { summary: 'postgres on db1 is down' } })
  @IsOptional()
  @IsObject()
  @Validate(AlertLabelsConstraint)
  annotations?: Record<string, string>;

  @ApiPropertyOptional({ example: '2026-12-06T10:00:00Z' })
  @IsOptional()
  @IsISO8601()
  startsAt?: string;

  @ApiPropertyOptional({ example: '0001-01-01T00:00:00Z', description: 'the zero time while firing' })
  @IsOptional()
  @IsISO8601()
  endsAt?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  generatorURL?: string;

  @ApiPropertyOptional({ example: 'b7f7c8a1d2e3f405' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9._:-]{1,128}$/, { message: 'fingerprint must be 1-128 letters, digits, . _ : -' })
  fingerprint?: string;
}

/** Prometheus Alertmanager's webhook body (version 4). Only `alerts` is read; the rest is checked loosely. */
export class AlertmanagerPayloadDto {
  @ApiPropertyOptional({ example: '4' })
  @IsOptional()
  @IsString()
  @MaxLength(8)
  version?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  groupKey?: string;

  @ApiPropertyOptional({ enum: ['firing', 'resolved'] })
  @IsOptional()
  @IsIn(['firing', 'resolved'])
  status?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(256)
  receiver?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsObject()
  groupLabels?: Record<string, string>;

  @ApiPropertyOptional()
  @IsOptional()
  @IsObject()
  commonLabels?: Record<string, string>;

  @ApiPropertyOptional()
  @IsOptional()
  @IsObject()
  commonAnnotations?: Record<string, string>;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  externalURL?: string;

  @ApiPropertyOptional()
  @IsOptional()
  truncatedAlerts?: number;

  @ApiProperty({ type: [AlertmanagerAlertDto] })
  @IsArray()
  @ArrayMaxSize(MAX_ALERTS_PER_REQUEST)
  @IsObject({ each: true, message: '$property must be a list of objects' })
  @ValidateNested({ each: true })
  @Type(() => AlertmanagerAlertDto)
  alerts: AlertmanagerAlertDto[];
}

export class GenericAlertDto {
  @ApiProperty({ example: 'OrdersCheckoutFailing' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  name: string;

  @ApiProperty({ enum: ['firing', 'resolved'] })
  @IsIn(['firing', 'resolved'])
  status: 'firing' | 'resolved';

  @ApiPropertyOptional({
    example: 'checkout-probe-7',
    description:
      'dedupe key: the same id is the same alert (default: derived from name, node, scenario, labels)',
  })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9._:-]{1,128}$/, { message: 'id must be 1-128 letters, digits, . _ : -' })
  id?: string;

  @ApiPropertyOptional({ example: 'db-paris-1', description: 'the node it is about (name or id)' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  node?: string;

  @ApiPropertyOptional({
    example: 'orders-db',
    description: 'the scenario it is about (name or id); alone, it means the active node',
  })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  scenario?: string;

  @ApiPropertyOptional({ example: 'critical' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  severity?: string;

  @ApiPropertyOptional({ example: 'checkout has failed 5 times in a row' })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  summary?: string;

  @ApiPropertyOptional({ example: { team: 'payments' } })
  @IsOptional()
  @IsObject()
  @Validate(AlertLabelsConstraint)
  labels?: Record<string, string>;

  @ApiPropertyOptional({ example: '2026-12-06T10:00:00Z' })
  @IsOptional()
  @IsISO8601()
  startsAt?: string;
}

export class GenericAlertsDto {
  @ApiProperty({ type: [GenericAlertDto] })
  @IsArray()
  @ArrayMaxSize(MAX_ALERTS_PER_REQUEST)
  @IsObject({ each: true, message: '$property must be a list of objects' })
  @ValidateNested({ each: true })
  @Type(() => GenericAlertDto)
  alerts: GenericAlertDto[];
}

export class ReceivedAlertView {
  @ApiProperty() id: string;
  @ApiProperty() fingerprint: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ALERT_STATES }) state: AlertState;
  @ApiProperty({ description: 'the alert counts against a node' }) mapped: boolean;
  @ApiProperty({ nullable: true }) nodeId: string | null;
  @ApiProperty({ nullable: true }) scenarioId: string | null;
  @ApiProperty({ description: 'how it was mapped, or why not' }) mapping: string;
  @ApiProperty({ description: 'new, changed state, or repeated (sent again, same state)' })
  change: 'new' | 'changed' | 'repeated';
}

export class ReceiveAlertsResult {
  @ApiProperty() received: number;
  @ApiProperty({ type: [ReceivedAlertView] }) alerts: ReceivedAlertView[];
}

export class ListAlertsQuery extends PaginationQuery {
  @ApiPropertyOptional({ enum: ALERT_STATES })
  @IsOptional()
  @IsIn(ALERT_STATES)
  state?: AlertState;

  @ApiPropertyOptional({ enum: ALERT_SOURCES })
  @IsOptional()
  @IsIn(ALERT_SOURCES)
  source?: AlertSource;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  nodeId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  scenarioId?: string;
}

export class AlertView {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ALERT_SOURCES }) source: string;
  @ApiProperty({ description: 'the token that sent it: the observer whose vote it is' }) observer: string;
  @ApiProperty() fingerprint: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ALERT_STATES }) state: AlertState;
  @ApiProperty({ nullable: true }) severity: string | null;
  @ApiProperty({ nullable: true }) summary: string | null;
  @ApiProperty({ nullable: true }) nodeId: string | null;
  @ApiProperty({ nullable: true }) scenarioId: string | null;
  @ApiProperty() mapping: string;
  @ApiProperty() labels: Record<string, string>;
  @ApiProperty() annotations: Record<string, string>;
  @ApiProperty() startsAt: Date;
  @ApiProperty({ nullable: true }) endsAt: Date | null;
  @ApiProperty() expiresAt: Date;
  @ApiProperty() firstReceivedAt: Date;
  @ApiProperty() lastReceivedAt: Date;
  @ApiProperty() receivedCount: number;
}

export class AlertPage {
  @ApiProperty({ type: [AlertView] }) items: AlertView[];
  @ApiProperty() total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
}
