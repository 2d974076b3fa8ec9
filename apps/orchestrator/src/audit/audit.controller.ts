import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { MinRole } from '../auth/auth.decorators';
import { AuditService } from './audit.service';
import { AuditPage, ListAuditQuery } from './dtos/audit.dto';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @MinRole('operator')
  @ApiOperation({ summary: 'Audit log, newest first (filter by target, actor, action)' })
  @ApiResponse({ status: 200, type: AuditPage })
  async list(@Query() q: ListAuditQuery): Promise<AuditPage> {
    const { items, total } = await this.audit.list(q);
    return { items, total, limit: q.limit, offset: q.offset };
  }
}
