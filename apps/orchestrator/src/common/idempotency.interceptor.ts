/**
 * Idempotency-Key on POST requests: the first response for (actor, key) is stored; a replay with
 * the same method, path and body gets it back with `Idempotent-Replayed: true` and runs nothing.
 * 5xx responses are not stored, so a retry after a server failure runs again. Secret fields of a
 * response (tokens shown once) are stored as null, so a replay returns them as null.
 */
import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { OpenAPIObject } from '@nestjs/swagger';
import { FastifyReply, FastifyRequest } from 'fastify';
import { catchError, from, mergeMap, Observable, of, throwError } from 'rxjs';
import { actorOf, Principal } from '../auth/principal';
import { InvalidInputError } from './errors';
import { toErrorBody } from './http-exception.filter';
import { hashRequestBody, IdempotencyService, storablePath } from './idempotency.service';
import { createLogger } from './logger';

const log = createLogger('IdempotencyInterceptor');

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
const KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(private readonly store: IdempotencyService) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const request = ctx.switchToHttp().getRequest<FastifyRequest & { principal?: Principal }>();
    if (request.method !== 'POST') return next.handle();
    const key = request.headers[IDEMPOTENCY_HEADER];
    if (key === undefined) return next.handle();
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      throw new InvalidInputError(
        'Idempotency-Key must be 1-128 characters of letters, digits, "_", ".", ":" or "-"',
        'Idempotency-Key',
      );
    }
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    const actor = actorOf(request.principal);
    const req = {
      actor,
      key,
      method: request.method,
      path: storablePath(request.url),
      requestHash: hashRequestBody(request.body),
    };

    return from(this.store.claim(req)).pipe(
      mergeMap((claim) => {
        if (claim.kind === 'replay') {
          void reply.status(claim.statusCode).header(REPLAYED_HEADER, 'true');
          return of(claim.body ?? undefined);
        }
        return next.handle().pipe(
          // Nest set the route's status (201, or @HttpCode) before the interceptors ran.
          mergeMap((body) =>
            from(this.finish(actor, key, reply.statusCode, body)).pipe(mergeMap(() => of(body))),
          ),
          catchError((err: unknown) => {
            const error = toErrorBody(err, String(request.id));
            const stored =
              error.statusCode < 500
                ? this.finish(actor, key, error.statusCode, error)
                : this.forget(actor, key);
            return from(stored).pipe(mergeMap(() => throwError(() => err)));
          }),
        );
      }),
    );
  }

  private async finish(actor: string, key: string, statusCode: number, body: unknown): Promise<void> {
    try {
      // Store exactly what the client receives: the JSON form (dates as strings).
      await this.store.complete(
        actor,
        key,
        statusCode,
        body === undefined ? undefined : JSON.parse(JSON.stringify(body)),
      );
    } catch (err) {
      // The request itself succeeded; the key stays "in progress" until it expires.
      log.error({ err: (err as Error).message, key }, 'could not store the idempotent response');
    }
  }

  private async forget(actor: string, key: string): Promise<void> {
    await this.store.release(actor, key).catch((err: Error) => {
      log.error({ err: err.message, key }, 'could not release the idempotency key');
    });
  }
}

/** Adds the Idempotency-Key header (and its 422) to every POST operation of the OpenAPI document. */
export function documentIdempotencyKey(document: OpenAPIObject): OpenAPIObject {
  for (const operations of Object.values(document.paths)) {
    const post = operations.post;
    if (!post) continue;
    post.parameters = [
      ...(post.parameters ?? []),
      {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'Makes a retry safe: the first response for this key (per token) is stored for 24 h and replayed, ' +
          'with `Idempotent-Replayed: true`, for the same request (409 while the first one still runs); ' +
          'secrets shown once replay as null.',
        schema: {
          type: 'string',
          pattern: KEY_PATTERN.source,
          maxLength: 128,
          example: 'create-orders-db-2025-01-31',
        },
      },
    ];
    post.responses = {
      ...post.responses,
      '422': { description: 'Idempotency-Key already used with another method, path or body' },
    };
  }
  return document;
}
