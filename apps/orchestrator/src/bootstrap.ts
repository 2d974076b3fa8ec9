/**
 * Builds and starts an orchestrator instance: used by main.ts, the demo and tests, so all three
 * run the same code path (Fastify, validation, errors, OpenAPI, migrations).
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { BadRequestException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { checkJsonLimits } from '@ha/contracts';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { AppModule } from './app.module';
import { documentIdempotencyKey } from './common/idempotency.interceptor';
import { logContext, PinoNestLogger, rootLogger } from './common/logger';
import { createValidationPipe } from './common/validation';
import { HEARTBEAT_OPENAPI, HEARTBEAT_PATH } from './heartbeats/heartbeat-route';
import { AppConfig } from './config/app-config';
import { ensureDatabase } from './database/database-bootstrap';
import { MetricsService } from './metrics/metrics.service';
import { checkRedis } from './redis/redis-check';

export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  rootLogger.level = config.LOG_LEVEL;
  await ensureDatabase(config);
  await checkRedis(config);

  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    logger: false,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger: new PinoNestLogger(),
    abortOnError: false,
    // Nest's body parsers would add application/x-www-form-urlencoded; Fastify's own JSON parser
    // (same limits, prototype poisoning refused) is the only one we want.
    bodyParser: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  // Only JSON bodies: anything else (text, forms) is a 415, never parsed as a string or a form.
  fastify.removeContentTypeParser(['text/plain']);
  // Every log line of a request carries its requestId; the response echoes it.
  fastify.addHook('onRequest', (req, reply, done) => {
    logContext.enterWith({ requestId: String(req.id) });
    void reply.header('x-request-id', String(req.id));
    done();
  });
  // Hostile input stops here, before any validator recurses into it or PostgreSQL sees it: JSON
  // depth, array and string sizes, NUL and lone surrogates, in the body, the query and the path.
  const limits = {
    maxDepth: config.MAX_JSON_DEPTH,
    maxArrayLength: config.MAX_JSON_ARRAY_LENGTH,
    maxStringLength: config.MAX_JSON_STRING_LENGTH,
  };
  fastify.addHook('preValidation', (req, _reply, done) => {
    const violation =
      checkJsonLimits(req.params, limits, 'path') ??
      checkJsonLimits(req.query, limits, 'query') ??
      checkJsonLimits(req.body, limits);
    if (!violation) return done();
    done(
      new BadRequestException({
        error: 'validation_failed',
        message: violation.message,
        details: { fields: [{ field: violation.field, messages: [violation.message] }] },
      }),
    );
  });
  const metrics = app.get(MetricsService);
  fastify.addHook('onResponse', (req, reply, done) => {
    metrics.httpRequests.inc({
      method: req.method,
      route: req.routeOptions?.url ?? 'unmatched',
      status: String(reply.statusCode),
    });
    done();
  });
  // Errors Fastify raises before a handler runs (JSON syntax, body limit, content type) reach the
  // error handler Nest installs at init, which hands them to GlobalExceptionFilter (toErrorBody).
  app.useGlobalPipes(createValidationPipe());
  app.enableShutdownHooks();

  const doc = new DocumentBuilder()
    .setTitle('HA failover orchestrator')
    .setDescription(
      'Watches production nodes, decides when one failed, fences it, promotes a replica and redirects DNS. ' +
        'Authenticate with `Authorization: Bearer <token>`; roles viewer < operator < admin.',
    )
    .setVersion('1')
    .addBearerAuth()
    .build();
  const document = documentIdempotencyKey(SwaggerModule.createDocument(app, doc));
  document.paths[HEARTBEAT_PATH] = HEARTBEAT_OPENAPI as never;
  SwaggerModule.setup('api/docs', app, document, {
    jsonDocumentUrl: 'api/openapi.json',
    yamlDocumentUrl: 'api/openapi.yaml',
  });

  if (config.MIGRATE_ON_START === 'true') {
    // Instances starting together on a fresh schema take turns: the first applies, the others find
    // nothing left to do (concurrent CREATE TABLEs would fail one of them).
    const dataSource = app.get(DataSource);
    const runner = dataSource.createQueryRunner();
    const lock = `${config.DATABASE_SCHEMA}:migrations`;
    await runner.connect();
    try {
      await runner.query('SELECT pg_advisory_lock(hashtext($1))', [lock]);
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      if (applied.length) rootLogger.info({ migrations: applied.map((m) => m.name) }, 'migrations applied');
    } finally {
      await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]).catch(() => undefined);
      await runner.release();
    }
  }
  return app;
}
