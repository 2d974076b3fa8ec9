import { DomainError } from '../common/errors';

/** Whether a step that threw `err` may be tried again (with backoff). */
export function isRetryable(err: unknown): boolean {
  if (err instanceof DomainError) return err.retryable;
  return true; // unexpected (database hiccup, network): retry with backoff
}

/** The delay BullMQ's exponential backoff (250 ms base) gives before attempt `attempt + 1`. */
export function retryDelayMs(attempt: number): number {
  return 250 * 2 ** Math.max(0, attempt - 1);
}
