import { Module } from '@nestjs/common';
import { AuditController } from './audit.controller';

/** The audit log read API; AuditService itself is provided by CoreModule for every domain. */
@Module({ controllers: [AuditController] })
export class AuditModule {}
