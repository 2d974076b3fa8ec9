/**
 * Errors that mean PostgreSQL or Redis could not be reached (connection refused, reset, closed,
 * server shutting down), as opposed to a query that is wrong. The API answers them with 503, and
 * paths that must fail static (agent authentication on the heartbeat path) fall back on what they
 * knew.
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  // PostgreSQL SQLSTATE classes 08 (connection exception) and 57P (operator intervention)
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '57P01',
  '57P02',
  '57P03',
]);
const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /connection is closed/i,
  /timeout exceeded when trying to connect/i,
  /client has encountered a connection error/i,
  /the database system is (starting up|shutting down)/i,
  /max retries per request/i,
];

export function isDependencyUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; driverError?: unknown };
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  if (typeof e.message === 'string' && CONNECTION_MESSAGES.some((re) => re.test(e.message as string)))
    return true;
  // TypeORM's QueryFailedError wraps the driver's error
  return e.driverError !== undefined && e.driverError !== err && isDependencyUnavailable(e.driverError);
}
