/**
 * pino JSON logs. Every line of a request carries its requestId, every line of an operation its
 * operationId (AsyncLocalStorage context); secrets are redacted by path.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { LoggerService } from '@nestjs/common';
import pino from 'pino';

export interface LogContext {
  requestId?: string;
  operationId?: string;
  actor?: string;
  /** operations requested together (mass failover, bulk start) */
  batchId?: string;
}

export const logContext = new AsyncLocalStorage<LogContext>();

export const rootLogger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  redact: {
    paths: [
      'token',
      '*.token',
      'actionToken',
      '*.actionToken',
      'agentToken',
      '*.agentToken',
      'peerToken',
      '*.peerToken',
      'authorization',
      '*.authorization',
      'headers.authorization',
      'secret',
      '*.secret',
      'apiKey',
      '*.apiKey',
      'headers["x-api-key"]',
      '*.headers["x-api-key"]',
    ],
    censor: '[redacted]',
  },
  mixin() {
    // A copy: pino merges each line's fields into what mixin returns (it would write them into the store).
    return { ...logContext.getStore() };
  },
});

export function createLogger(context: string): pino.Logger {
  return rootLogger.child({ context });
}

/** Adapter so Nest's own logs go through pino too. */
export class PinoNestLogger implements LoggerService {
  log(message: unknown, context?: string) {
    rootLogger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    rootLogger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    rootLogger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    rootLogger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    rootLogger.trace({ context }, String(message));
  }
}
