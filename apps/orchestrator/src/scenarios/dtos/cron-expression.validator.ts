/**
 * Validates an Assured Recovery schedule with the `cron` package (the one @nestjs/schedule runs
 * on), so the API accepts exactly the expressions the scheduler can evaluate.
 */
import { validateCronExpression } from 'cron';
import { registerDecorator, ValidationOptions } from 'class-validator';

/** null is allowed (no schedule); anything else must be a cron expression of at most 128 chars. */
export function isCronExpression(value: unknown): boolean {
  if (value === null) return true;
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) return false;
  return validateCronExpression(value).valid;
}

export function IsCronExpression(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isCronExpression',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message: `${String(propertyName)} must be a cron expression (e.g. "0 30 3 * * *") or null`,
        ...options,
      },
      validator: { validate: isCronExpression },
    });
}
