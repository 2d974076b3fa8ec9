import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../auth/auth.decorators';
import { MetricsService } from '../metrics/metrics.service';
import { RedisService } from '../redis/redis.service';

@ApiTags('health')
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly dataSource: DataSource,
    private readonly indicator: HealthIndicatorService,
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
  ) {}

  @Get('health/live')
  @ApiOperation({ summary: 'Liveness: the process answers' })
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: PostgreSQL and Redis reachable (503 otherwise)' })
  ready() {
    return this.health.check([
      () => this.probe('postgres', () => this.dataSource.query('SELECT 1')),
      () => this.probe('redis', () => this.redis.client.ping()),
    ]);
  }

  /** One dependency probe with a 1.5 s deadline whose timer never outlives the request. */
  private async probe(name: string, fn: () => Promise<unknown>) {
    const check = this.indicator.check(name);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout after 1500 ms')), 1500);
        }),
      ]);
      return check.up();
    } catch (err) {
      return check.down({ message: (err as Error).message });
    } finally {
      clearTimeout(timer);
    }
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  @Header('Content-Type', 'text/plain; version=0.0.4')
  async metricsText(@Res() reply: FastifyReply) {
    void reply
      .header('Content-Type', this.metrics.registry.contentType)
      .send(await this.metrics.registry.metrics());
  }
}
