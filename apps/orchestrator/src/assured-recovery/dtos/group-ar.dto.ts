import { ApiProperty } from '@nestjs/swagger';

/** OpenAPI shapes of the group AR routes (group-ar.service.ts builds them). */
export class ArStepView {
  @ApiProperty({ example: 'ar-check' }) name: string;
  @ApiProperty({ example: 'done' }) state: string;
  @ApiProperty({ example: 1034, nullable: true }) durationMs: number | null;
}

export class ArResultDto {
  @ApiProperty({ example: '0b6f2c1e-7a8d-4e3f-9c2b-1d4e5f6a7b8c' }) operationId: string;
  @ApiProperty({ example: '5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01', nullable: true }) scenarioId: string | null;
  @ApiProperty({ example: 'succeeded' }) state: string;
  @ApiProperty({ example: 'manual' }) trigger: string;
  @ApiProperty({ example: 'token:noc-oncall' }) requestedBy: string;
  @ApiProperty({
    example: 'passed',
    nullable: true,
    description: 'passed / failed (the check), aborted, or null when the test broke before a verdict',
  })
  arResult: string | null;
  @ApiProperty({ example: false }) aborted: boolean;
  @ApiProperty({ example: null, nullable: true }) error: string | null;
  @ApiProperty({ example: '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d', nullable: true }) targetNodeId:
    string | null;
  @ApiProperty({ example: 3, nullable: true }) epoch: number | null;
  @ApiProperty({ example: 'ar-check on replica1: 42 rows', nullable: true }) checkOutput: string | null;
  @ApiProperty({ example: '2026-12-08T00:10:00.000Z' }) createdAt: Date;
  @ApiProperty({ example: '2026-12-08T00:10:00.020Z', nullable: true }) startedAt: Date | null;
  @ApiProperty({ example: '2026-12-08T00:10:03.400Z', nullable: true }) finishedAt: Date | null;
  @ApiProperty({ example: 3380, nullable: true }) durationMs: number | null;
  @ApiProperty({ type: [ArStepView] }) steps: ArStepView[];
}

export class GroupArMemberView {
  @ApiProperty({ example: '5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01' }) scenarioId: string;
  @ApiProperty({ example: 'orders-db' }) name: string;
  @ApiProperty({ example: 'finished', enum: ['pending', 'started', 'refused', 'finished'] }) state: string;
  @ApiProperty({ example: '0b6f2c1e-7a8d-4e3f-9c2b-1d4e5f6a7b8c', nullable: true }) operationId:
    string | null;
  @ApiProperty({ example: 'passed', nullable: true }) arResult: string | null;
  @ApiProperty({ example: null, nullable: true, description: 'why it was refused, or how its test failed' })
  error: string | null;
  @ApiProperty({ example: '2026-12-08T00:10:00.000Z', nullable: true }) startedAt: Date | null;
  @ApiProperty({ example: '2026-12-08T00:10:03.400Z', nullable: true }) finishedAt: Date | null;
  @ApiProperty({ type: ArResultDto, nullable: true, description: 'its AR test, once started' })
  result: ArResultDto | null;
}

export class GroupArRunView {
  @ApiProperty({ example: '7c0ca79c-632c-46e8-9dd8-c50b03b55fc9' }) id: string;
  @ApiProperty({ example: '1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b' }) groupId: string;
  @ApiProperty({ example: 'paris-site' }) group: string;
  @ApiProperty({ example: 'done', enum: ['running', 'done'] }) state: string;
  @ApiProperty({ example: 'quarterly recovery drill' }) reason: string;
  @ApiProperty({ example: 'token:noc-oncall' }) requestedBy: string;
  @ApiProperty({ example: 2 }) maxParallel: number;
  @ApiProperty({ example: null, nullable: true }) snapshot: boolean | null;
  @ApiProperty({
    example: { passed: 2, failed: 1, aborted: 0, refused: 0, error: 0 },
    nullable: true,
    description: 'counts by result once done',
  })
  summary: Record<string, number> | null;
  @ApiProperty({ example: '2026-12-08T00:10:00.000Z' }) createdAt: Date;
  @ApiProperty({ example: '2026-12-08T00:10:09.100Z', nullable: true }) finishedAt: Date | null;
  @ApiProperty({ example: 9100, nullable: true }) durationMs: number | null;
  @ApiProperty({ type: [GroupArMemberView] }) members: GroupArMemberView[];
}

export class GroupArRunPage {
  @ApiProperty({ type: [GroupArRunView] }) items: GroupArRunView[];
  @ApiProperty({ example: 1 }) total: number;
  @ApiProperty({ example: 50 }) limit: number;
  @ApiProperty({ example: 0 }) offset: number;
}
