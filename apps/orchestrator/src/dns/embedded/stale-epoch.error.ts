/**
 * StaleEpochError for the DNS layer. The class already lives with the other domain errors
 * (common/errors.ts: `current`, `attempted`, HTTP 409, not retryable); re-exporting it keeps one
 * class, so `instanceof` checks in steps and the global exception filter see DNS refusals too.
 */
export { StaleEpochError } from '../../common/errors';
