/**
 * Typed errors of the agent. The HTTP server maps them to status codes in one place
 * (http-server.ts `toHttpError`); anything else becomes a 500 with a correlation id.
 */
export abstract class AgentHttpError extends Error {
  abstract readonly statusCode: number;
  abstract readonly error: string;
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
