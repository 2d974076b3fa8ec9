/**
 * User-defined checks declared in the agent's config, run on their own schedules with Nagios
 * semantics; the latest result of each goes out with every heartbeat.
 */
import type { LocalCheckResult } from '@ha/contracts';
import { statusFromExitCode } from '@ha/contracts/checks';
import { Logger } from 'pino';
import { ResolvedCheck } from './config';
import { ProcessRunner, RunResult } from './process-runner';

export const CHECK_OUTPUT_LIMIT = 1024;

/** Maps a finished run to the result reported to the orchestrator. */
export function checkResultFromRun(
  check: Pick<ResolvedCheck, 'name' | 'timeoutMs'>,
  run: RunResult,
): LocalCheckResult {
  const base = { name: check.name, durationMs: Math.max(0, Math.round(run.durationMs)), at: run.finishedAt };
  if (run.timedOut) {
    return { ...base, status: 'critical', output: `timed out after ${check.timeoutMs} ms` };
  }
  if (run.spawnError) {
    return { ...base, status: 'unknown', output: truncate(`could not run ${check.name}: ${run.spawnError}`) };
  }
  const killed = run.exitCode === null && run.signal ? ` (killed by ${run.signal})` : '';
  return { ...base, status: statusFromExitCode(run.exitCode), output: truncate(run.output.trim() + killed) };
}

function truncate(text: string): string {
  return text.length > CHECK_OUTPUT_LIMIT ? text.slice(0, CHECK_OUTPUT_LIMIT) : text;
}

export class CheckRunner {
  private readonly results = new Map<string, LocalCheckResult>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = true;

  constructor(
    private readonly checks: ResolvedCheck[],
    private readonly runner: ProcessRunner,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    for (const check of this.checks) void this.runAndReschedule(check);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  latest(): LocalCheckResult[] {
    return [...this.results.values()];
  }

  /** Fixed delay after each run, so a slow check never overlaps itself. */
  private async runAndReschedule(check: ResolvedCheck): Promise<void> {
    if (this.stopped) return;
    const run = await this.runner.run({
      command: check.command,
      args: check.args,
      timeoutMs: check.timeoutMs,
      maxOutputBytes: CHECK_OUTPUT_LIMIT,
    });
    if (this.stopped) return;
    const result = checkResultFromRun(check, run);
    const previous = this.results.get(check.name);
    this.results.set(check.name, result);
    if (previous?.status !== result.status) {
      const level = result.status === 'ok' ? 'info' : 'warn';
      this.logger[level](
        {
          event: 'check.status_changed',
          check: check.name,
          from: previous?.status ?? null,
          to: result.status,
        },
        `check ${check.name} is ${result.status}`,
      );
    }
    this.timers.set(
      check.name,
      setTimeout(() => void this.runAndReschedule(check), check.intervalMs),
    );
  }
}
