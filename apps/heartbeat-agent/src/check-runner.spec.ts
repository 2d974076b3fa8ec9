import 'reflect-metadata'; // before @ha/contracts: its decorators read metadata at load time
import { statusFromExitCode } from '@ha/contracts';
import { CHECK_OUTPUT_LIMIT, checkResultFromRun } from './check-runner';
import { RunResult } from './process-runner';

const run = (patch: Partial<RunResult>): RunResult => ({
  exitCode: 0,
  signal: null,
  timedOut: false,
  output: '',
  stdout: '',
  startedAt: 1_000,
  finishedAt: 1_250,
  durationMs: 250,
  ...patch,
});
const check = { name: 'disk', timeoutMs: 500 };

describe('Nagios exit codes', () => {
  it.each([
    [0, 'ok'],
    [1, 'warning'],
    [2, 'critical'],
    [3, 'unknown'],
    [4, 'unknown'],
    [127, 'unknown'],
    [null, 'unknown'],
  ])('exit %p → %s', (code, status) => {
    expect(statusFromExitCode(code)).toBe(status);
    expect(checkResultFromRun(check, run({ exitCode: code })).status).toBe(status);
  });
});

describe('checkResultFromRun', () => {
  it('reports a timeout as critical, whatever the exit code', () => {
    const result = checkResultFromRun(check, run({ exitCode: null, signal: 'SIGKILL', timedOut: true }));
    expect(result).toEqual({
      name: 'disk',
      status: 'critical',
      output: 'timed out after 500 ms',
      durationMs: 250,
      at: 1_250,
    });
  });

  it('reports a script that cannot start as unknown', () => {
    const result = checkResultFromRun(check, run({ exitCode: null, spawnError: 'ENOENT' }));
    expect(result.status).toBe('unknown');
    expect(result.output).toContain('ENOENT');
  });

  it('keeps the output trimmed and at most 1 KiB', () => {
    expect(checkResultFromRun(check, run({ output: ' DISK OK \n' })).output).toBe('DISK OK');
    expect(checkResultFromRun(check, run({ output: 'x'.repeat(5000) })).output).toHaveLength(
      CHECK_OUTPUT_LIMIT,
    );
  });

  it('says which signal killed a script', () => {
    expect(checkResultFromRun(check, run({ exitCode: null, signal: 'SIGTERM' })).output).toContain(
      'killed by SIGTERM',
    );
  });
});
