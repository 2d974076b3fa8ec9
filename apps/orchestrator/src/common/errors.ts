/**
 * Typed domain errors. The global exception filter maps each to an HTTP status; workflow steps
 * use `retryable` to decide between a BullMQ retry and an UnrecoverableError.
 */
export abstract class DomainError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  readonly retryable: boolean = false;
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends DomainError {
  readonly status = 404;
  readonly code = 'not_found';
  constructor(kind: string, id: string) {
    super(`${kind} ${id} not found`, { kind, id });
  }
}

export class ConflictError extends DomainError {
  readonly status = 409;
  readonly code = 'conflict';
}

export class InvalidInputError extends DomainError {
  readonly status = 400;
  readonly code = 'invalid_input';
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message, field ? { field } : {});
  }
}

export class OperationInProgressError extends DomainError {
  readonly status = 409;
  readonly code = 'operation_in_progress';
  constructor(readonly operationId: string) {
    super(`another operation is running on this scenario: ${operationId}`, { operationId });
  }
}

export class InvalidStateError extends DomainError {
  readonly status = 409;
  readonly code = 'invalid_state';
}

export class StaleEpochError extends DomainError {
  readonly status = 409;
  readonly code = 'stale_epoch';
  constructor(
    readonly current: number,
    readonly attempted: number,
    what = 'write',
  ) {
    super(`stale epoch: ${what} with epoch ${attempted} refused, current epoch is ${current}`, {
      current,
      attempted,
    });
  }
}

export class FencingFailedError extends DomainError {
  readonly status: number = 409;
  readonly code: string = 'fencing_failed';
}

/**
 * The old production could not be fenced by its agent or a hook, and lease expiry proves nothing
 * because its agent has no armed watchdog (a frozen agent cannot demote itself): not promoting.
 */
export class FencingBlockedError extends FencingFailedError {
  readonly code = 'fencing_blocked';
}

/** A heartbeat reports an epoch the orchestrator never issued for that scenario. */
export class EpochNotIssuedError extends DomainError {
  readonly status = 409;
  readonly code = 'epoch_not_issued';
}

export class PreCheckFailedError extends DomainError {
  readonly status = 409;
  readonly code = 'precheck_failed';
}

/** A dependency (agent, DNS server) did not answer: worth a retry with backoff. */
export class TransientError extends DomainError {
  readonly status = 503;
  readonly code = 'unavailable';
  readonly retryable = true;
}

export class StormBrakeEngagedError extends DomainError {
  readonly status = 409;
  readonly code = 'storm_brake_engaged';
}

export class PromoteFailedError extends DomainError {
  readonly status = 409;
  readonly code = 'promote_failed';
}
