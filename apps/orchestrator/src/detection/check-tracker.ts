/**
 * Consecutive-threshold state of one check on one node (pure logic).
 * critical counts toward failureThreshold; ok and warning count toward recoveryThreshold;
 * unknown counts toward nothing (a check that cannot tell us anything must not flip the state).
 */
import { CheckStatus } from '@ha/contracts';

export type CheckState = 'pending' | 'passing' | 'warning' | 'failing';

export class CheckTracker {
  state: CheckState = 'pending';
  consecutiveFailures = 0;
  consecutiveSuccesses = 0;
  lastStatus: CheckStatus | null = null;
  lastOutput: string | undefined;
  lastAt: number | null = null;

  constructor(
    readonly failureThreshold: number,
    readonly recoveryThreshold: number,
  ) {}

  record(status: CheckStatus, at: number, output?: string): CheckState {
    this.lastStatus = status;
    this.lastOutput = output;
    this.lastAt = at;
    if (status === 'unknown') return this.state;
    if (status === 'critical') {
      this.consecutiveFailures++;
      this.consecutiveSuccesses = 0;
      if (this.consecutiveFailures >= this.failureThreshold) this.state = 'failing';
      return this.state;
    }
    this.consecutiveSuccesses++;
    this.consecutiveFailures = 0;
    const good: CheckState = status === 'warning' ? 'warning' : 'passing';
    if (this.state !== 'failing' || this.consecutiveSuccesses >= this.recoveryThreshold) this.state = good;
    return this.state;
  }

  /** Failing, or on its way there (some failures below the threshold). */
  get isSuspect(): boolean {
    return this.state !== 'failing' && this.consecutiveFailures > 0;
  }
}
