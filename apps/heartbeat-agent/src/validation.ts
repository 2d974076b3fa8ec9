import 'reflect-metadata';
import { ClassConstructor, plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { checkJsonLimits } from '@ha/contracts';
import { BodyValidationError } from './errors';

export interface ValidateOptions {
  /** Refuse unknown properties (requests, config); responses only strip them. Default true. */
  forbidUnknown?: boolean;
  /** Path prefix used in error messages, e.g. 'actions.promote'. */
  path?: string;
}

/**
 * class-validator, the library the orchestrator uses, with whitelist + forbidNonWhitelisted.
 * Throws BodyValidationError naming the first bad field as a dotted path (`checks[1].timeoutMs`).
 */
export function validatePlain<T extends object>(
  cls: ClassConstructor<T>,
  plain: unknown,
  options: ValidateOptions = {},
): T {
  const prefix = options.path ?? '';
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    throw new BodyValidationError(prefix, `${prefix || 'body'} must be a JSON object`);
  }
  // Depth, sizes, NUL and lone surrogates first: class-transformer and class-validator recurse.
  const violation = checkJsonLimits(plain, undefined, prefix);
  if (violation) throw new BodyValidationError(violation.field, violation.message);
  const instance = plainToInstance(cls, plain);
  const errors = validateSync(instance, {
    whitelist: true,
    forbidNonWhitelisted: options.forbidUnknown ?? true,
    forbidUnknownValues: true,
  });
  if (errors.length > 0) {
    const { field, message } = firstError(errors, prefix);
    throw new BodyValidationError(field, message);
  }
  return instance;
}

function joinPath(prefix: string, property: string): string {
  if (/^\d+$/.test(property)) return `${prefix}[${property}]`;
  return prefix ? `${prefix}.${property}` : property;
}

function firstError(errors: ValidationError[], prefix: string): { field: string; message: string } {
  const error = errors[0];
  const field = joinPath(prefix, error.property);
  if (error.constraints && Object.keys(error.constraints).length > 0) {
    // class-validator lists constraints bottom-up; the topmost decorator (the type check) explains best.
    const entries = Object.entries(error.constraints);
    const [key, raw] = entries[entries.length - 1];
    if (key === 'whitelistValidation') return { field, message: `${field} is not a known field` };
    // class-validator messages start with the bare property name; show the full path instead.
    const message = raw.startsWith(`${error.property} `)
      ? `${field}${raw.slice(error.property.length)}`
      : `${field}: ${raw}`;
    return { field, message };
  }
  if (error.children && error.children.length > 0) return firstError(error.children, field);
  return { field, message: `${field} is invalid` };
}
