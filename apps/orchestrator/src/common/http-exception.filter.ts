/**
 * One global filter: domain errors → their status; Nest HTTP errors pass through with a uniform
 * body; body-parser errors (malformed JSON, too large, wrong type) → 400/413/415; anything else
 * → 500 with a generic message and the correlation id, never a stack trace. PostgreSQL or Redis
 * unreachable → 503 (retry), logged as a warning.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import { createLogger } from './logger';
import { isDependencyUnavailable } from './dependency-errors';
import { DomainError } from './errors';

const log = createLogger('HttpExceptionFilter');

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  details?: unknown;
  requestId?: string;
}

@Catch()
export class GlobalExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const requestId = String(request?.id ?? '');
    const body = toErrorBody(exception, requestId);
    if (body.statusCode === 503 && !(exception instanceof DomainError)) {
      log.warn(
        { err: (exception as Error).message, requestId, url: redactUrl(request?.url) },
        'dependency unreachable',
      );
    } else if (body.statusCode >= 500) {
      log.error({ err: exception, requestId, url: redactUrl(request?.url) }, 'unhandled error');
    }
    void reply.status(body.statusCode).send(body);
  }
}

const HTTP_ERROR_CODES: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

export function toErrorBody(exception: unknown, requestId?: string): ErrorBody {
  if (exception instanceof DomainError) {
    return {
      statusCode: exception.status,
      error: exception.code,
      message: exception.message,
      details: exception.details,
      requestId,
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const r = typeof response === 'string' ? { message: response } : (response as Record<string, unknown>);
    return {
      statusCode: status,
      // A bare HttpException (Nest's wrapping of Fastify's body errors) has no error code of its own.
      error: String(r.error ?? HTTP_ERROR_CODES[status] ?? exception.name),
      message: Array.isArray(r.message) ? r.message.join('; ') : String(r.message ?? exception.message),
      details: r.details ?? (Array.isArray(r.message) ? { errors: r.message } : undefined),
      requestId,
    };
  }
  // Fastify's own errors (content-type parser, body limit, JSON syntax) carry a statusCode < 500.
  const fe = exception as { statusCode?: number; code?: string; message?: string };
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const messages: Record<number, string> = {
      400: 'malformed request body',
      413: 'request body too large',
      415: 'unsupported content type: send application/json',
    };
    return {
      statusCode: fe.statusCode,
      error: fe.code ?? 'bad_request',
      message:
        fe.statusCode === 400
          ? `${messages[400]}: ${fe.message}`
          : (messages[fe.statusCode] ?? fe.message ?? ''),
      requestId,
    };
  }
  if (isDependencyUnavailable(exception)) {
    return {
      statusCode: 503,
      error: 'unavailable',
      message: 'PostgreSQL or Redis is unreachable right now; retry',
      requestId,
    };
  }
  return {
    statusCode: 500,
    error: 'internal_error',
    message: 'internal error; see logs with this requestId',
    requestId,
  };
}

/** Stream tickets ride in the query string: never in a log line. */
function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(/([?&]ticket=)[^&]*/g, '$1[redacted]');
}
