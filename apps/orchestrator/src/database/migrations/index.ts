import { Initial1795613083121 } from './1795613083121-Initial';

/** Every migration, in order. A new migration is added here as well as in its own file. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const MIGRATIONS: Function[] = [Initial1795613083121];
