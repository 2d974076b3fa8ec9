/**
 * Typed errors of the agent. The HTTP server maps them to status codes in one place
 * (http-server.ts `toHttpError`); anything else becomes a 500 with a correlation id.
 */
import type { ActionRefusal } from '@ha/contracts';

export abstract class AgentHttpError extends Error {
  abstract readonly statusCode: number;
  abstract readonly error: string;
  /** For refused actions: which rule refused it (goes into the error body). */
  readonly reason?: ActionRefusal;
}

export class UnauthorizedError extends AgentHttpError {
  readonly statusCode = 401;
  readonly error = 'Unauthorized';
}

export class ForbiddenError extends AgentHttpError {
  readonly statusCode = 403;
  readonly error = 'Forbidden';
}

export class NotFoundError extends AgentHttpError {
  readonly statusCode = 404;
  readonly error = 'Not Found';
}

export class ActionNotConfiguredError extends NotFoundError {
  constructor(action: string) {
    super(`action '${action}' is not configured on this agent`);
  }
}

export class MethodNotAllowedError extends AgentHttpError {
  readonly statusCode = 405;
  readonly error = 'Method Not Allowed';
}

export class BodyValidationError extends AgentHttpError {
  readonly statusCode = 400;
  readonly error = 'Bad Request';
  constructor(
    /** Dotted path of the offending field ('' for the body itself). */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** The request's epoch is lower than the one this agent stored for the scenario. */
export class StaleEpochError extends AgentHttpError {
  readonly statusCode = 409;
  readonly error = 'Conflict';
  readonly reason = 'stale_epoch';
  constructor(
    readonly currentEpoch: number,
    requestEpoch: number,
  ) {
    super(`stale epoch ${requestEpoch}: this agent holds epoch ${currentEpoch}`);
  }
}

/** A stepId already used for a different action or operation: an idempotency key cannot be reused. */
export class StepConflictError extends AgentHttpError {
  readonly statusCode = 409;
  readonly error = 'Conflict';
  readonly reason = 'step_conflict';
}

/**
 * The request's epoch is higher than any the orchestrator has issued for the scenario (checked with
 * an orchestrator before refusing): epochs come from the orchestrator only, so it is never stored.
 */
export class EpochNotIssuedError extends AgentHttpError {
  readonly statusCode = 409;
  readonly error = 'Conflict';
  readonly reason = 'epoch_not_issued';
  constructor(
    readonly issuedEpoch: number | null,
    requestEpoch: number,
  ) {
    super(
      issuedEpoch === null
        ? `epoch ${requestEpoch} could not be confirmed with any orchestrator; not run`
        : `epoch ${requestEpoch} was never issued: the orchestrator's epoch for this scenario is ${issuedEpoch}`,
    );
  }
}

/** An action for a scenario this node is not part of (per the orchestrator). */
export class UnknownScenarioError extends AgentHttpError {
  readonly statusCode = 404;
  readonly error = 'Not Found';
  readonly reason = 'unknown_scenario';
  constructor(scenarioId: string) {
    super(`scenario ${scenarioId} is not assigned to this node`);
  }
}

/** The caller's deadline passed before the action could start (e.g. the agent was paused). */
export class DeadlinePassedError extends AgentHttpError {
  readonly statusCode = 409;
  readonly error = 'Conflict';
  readonly reason = 'deadline_passed';
  constructor(lateByMs: number) {
    super(`deadline passed ${Math.round(lateByMs)} ms ago: the caller has given up, action not run`);
  }
}

/** A batch item still running at its deadline: it goes on; a retry of the stepId gets its result. */
export class ActionInProgressError extends AgentHttpError {
  readonly statusCode = 409;
  readonly error = 'Conflict';
  readonly reason = 'in_progress';
  constructor(stepId: string) {
    super(`step ${stepId} is still running; ask again with the same stepId for its result`);
  }
}

export class PayloadTooLargeError extends AgentHttpError {
  readonly statusCode = 413;
  readonly error = 'Payload Too Large';
}

export class UnsupportedMediaTypeError extends AgentHttpError {
  readonly statusCode = 415;
  readonly error = 'Unsupported Media Type';
}

/** Bad config file: the message names the field; main prints it on one line and exits non-zero. */
export class ConfigError extends Error {}

/** The state file cannot be read or trusted; starting anyway could reset epochs. */
export class StateFileError extends Error {}
