import {
  ArgumentMetadata,
  BadRequestException,
  Injectable,
  PipeTransform,
  ValidationError,
  ValidationPipe,
} from '@nestjs/common';
import { isUUID } from 'class-validator';
import { InvalidInputError } from './errors';

/** Flatten nested class-validator errors into { field: 'a.b[0].c', messages } entries. */
export function flattenValidationErrors(
  errors: ValidationError[],
  parent = '',
): { field: string; messages: string[] }[] {
  const out: { field: string; messages: string[] }[] = [];
  for (const e of errors) {
    const field = parent
      ? /^\d+$/.test(e.property)
        ? `${parent}[${e.property}]`
        : `${parent}.${e.property}`
      : e.property;
    if (e.constraints) out.push({ field, messages: Object.values(e.constraints) });
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, field));
  }
  return out;
}

export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    exceptionFactory: (errors) => {
      const fields = flattenValidationErrors(errors);
      return new BadRequestException({
        error: 'validation_failed',
        message: fields.map((f) => `${f.field}: ${f.messages.join(', ')}`).join('; '),
        details: { fields },
      });
    },
  });
}

/** Like ParseUUIDPipe, but the 400 names the path parameter (`id must be a UUID`). */
@Injectable()
export class UuidParamPipe implements PipeTransform<unknown, string> {
  transform(value: unknown, metadata: ArgumentMetadata): string {
    const name = metadata.data ?? 'id';
    if (typeof value !== 'string' || !isUUID(value, 'all')) {
      throw new InvalidInputError(`${name} must be a UUID`, name);
    }
    return value;
  }
}
