/**
 * Runs the actions named in the agent's config, fenced by epoch and idempotent by stepId.
 * One action at a time per scenario; the epoch is persisted before the script runs and the result
 * (step log, role) before the caller gets an answer, so a crash never lets an epoch go backwards
 * nor a finished step run twice.
 */
import type { ActionResponse, AgentAction, AgentRole } from '@ha/contracts';
import { isAgentAction } from '@ha/contracts/roles';
import { Logger } from 'pino';
import { AgentConfig } from './config';
import { ActionNotConfiguredError, DeadlinePassedError, StaleEpochError, StepConflictError } from './errors';
import { ProcessRunner, RunResult } from './process-runner';
import { rm, writeFile } from 'node:fs/promises';
import { StateStore, StepLogEntry, stepKey } from './state-store';

export const ACTION_OUTPUT_LIMIT = 4096;

export interface ActionInvocation {
  action: AgentAction;
  /** '' for actions the agent starts itself (self-fence, self-demote). */
  operationId: string;
  stepId: string;
  scenarioId: string;
  epoch: number;
  /** Orchestrator wall clock after which the action must not start (absent for the agent's own). */
  deadline?: number;
}

const ROLE_AFTER_SUCCESS: Partial<Record<AgentAction, AgentRole>> = {
  promote: 'production',
  demote: 'demoted',
  fence: 'demoted',
  resync: 'replica',
};

/** The role a node holds after an action: only a successful promote/demote/fence/resync changes it. */
export function roleAfterAction(
  action: AgentAction,
  status: ActionResponse['status'],
  current: AgentRole,
): AgentRole {
  if (status !== 'ok') return current;
  return ROLE_AFTER_SUCCESS[action] ?? current;
}

export class ActionRunner {
  private readonly inFlight = new Map<
    string,
    { action: AgentAction; operationId: string; result: Promise<ActionResponse> }
  >();
  private readonly scenarioQueues = new Map<string, Promise<unknown>>();
  private readonly batchGates = new Map<
    AgentAction,
    {
      queued: {
        invocation: ActionInvocation;
        resolve: (r: RunResult) => void;
        reject: (e: unknown) => void;
      }[];
      running: boolean;
    }
  >();
  private batchSeq = 0;

  constructor(
    private readonly config: AgentConfig,
    private readonly store: StateStore,
    private readonly runner: ProcessRunner,
    private readonly logger: Logger,
    private readonly clock: { lateByMs(deadline: number): number } = { lateByMs: () => 0 },
  ) {}

  isConfigured(action: string): action is AgentAction {
    return isAgentAction(action) && this.config.actions[action] !== undefined;
  }

  /**
   * Throws ActionNotConfiguredError (404), StaleEpochError (409) or StepConflictError (409).
   * A failed script is not an error: it resolves with status 'failed'.
   */
  async execute(invocation: ActionInvocation): Promise<ActionResponse> {
    if (!this.isConfigured(invocation.action)) throw new ActionNotConfiguredError(invocation.action);
    const key = stepKey(invocation.scenarioId, invocation.stepId);

    const done = this.store.findStep(key);
    if (done) return this.replay(done.response, done.operationId, invocation);

    const running = this.inFlight.get(key);
    if (running) {
      this.assertSameStep(running.action, running.operationId, invocation);
      return { ...(await running.result), replayed: true };
    }

    const result = this.enqueue(invocation.scenarioId, () => this.runStep(invocation, key));
    this.inFlight.set(key, { action: invocation.action, operationId: invocation.operationId, result });
    try {
      return await result;
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** Resolves when every action in flight has finished (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()].map((f) => f.result));
  }

  private replay(stored: ActionResponse, operationId: string, invocation: ActionInvocation): ActionResponse {
    this.assertSameStep(stored.action, operationId, invocation);
    this.logger.info(
      {
        event: 'action.replayed',
        action: stored.action,
        stepId: stored.stepId,
        scenarioId: stored.scenarioId,
      },
      'step already ran; returning its stored result',
    );
    return { ...stored, replayed: true };
  }

  private assertSameStep(action: AgentAction, operationId: string, invocation: ActionInvocation): void {
    if (action !== invocation.action || operationId !== invocation.operationId) {
      throw new StepConflictError(
        `stepId '${invocation.stepId}' was already used for action '${action}' of operation '${operationId}'`,
      );
    }
  }

  /**
   * A `batch` action: every scenario that reaches this point while no run of the action is going
   * on (the same tick), or while one is (then they wait for the next), shares one run. The command
   * gets HA_BATCH_FILE, a JSON file {action, node, items: [{scenarioId, stepId, epoch,
   * operationId}]} removed after the run, and HA_BATCH_SIZE; with one item also the single-scenario
   * variables. Its exit status is every item's. An item whose deadline passed while it waited is
   * refused (nothing ran for it).
   */
  private runBatched(action: AgentAction, invocation: ActionInvocation): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      let gate = this.batchGates.get(action);
      if (!gate) this.batchGates.set(action, (gate = { queued: [], running: false }));
      gate.queued.push({ invocation, resolve, reject });
      if (gate.queued.length === 1 && !gate.running) setImmediate(() => void this.drainBatch(action));
    });
  }

  private async drainBatch(action: AgentAction): Promise<void> {
    const gate = this.batchGates.get(action)!;
    if (gate.running) return;
    gate.running = true;
    try {
      while (gate.queued.length > 0) {
        const waiting = gate.queued.splice(0);
        const batch = waiting.filter((w) => {
          const late = w.invocation.deadline === undefined ? 0 : this.clock.lateByMs(w.invocation.deadline);
          if (late > 0) w.reject(new DeadlinePassedError(late));
          return late <= 0;
        });
        if (batch.length === 0) continue;
        const command = this.config.actions[action]!;
        const file = `${this.config.stateFile}.batch-${action}-${process.pid}-${++this.batchSeq}.json`;
        const items = batch.map(({ invocation: i }) => ({
          scenarioId: i.scenarioId,
          stepId: i.stepId,
          epoch: i.epoch,
          operationId: i.operationId,
        }));
        try {
          await writeFile(file, JSON.stringify({ action, node: this.config.nodeName, items }), {
            mode: 0o600,
          });
          const first = batch[0].invocation;
          const run = await this.runner.run({
            command: command.command,
            args: command.args,
            timeoutMs: command.timeoutMs,
            maxOutputBytes: ACTION_OUTPUT_LIMIT,
            env: {
              HA_ACTION: action,
              HA_NODE_NAME: this.config.nodeName,
              HA_BATCH_FILE: file,
              HA_BATCH_SIZE: String(batch.length),
              ...(batch.length === 1 && {
                HA_EPOCH: String(first.epoch),
                HA_OPERATION_ID: first.operationId,
                HA_STEP_ID: first.stepId,
                HA_SCENARIO_ID: first.scenarioId,
              }),
            },
          });
          this.logger.info(
            {
              event: 'action.batch',
              action,
              items: batch.length,
              exitCode: run.exitCode,
              durationMs: run.durationMs,
            },
            `batch ${action} ran once for ${batch.length} scenarios`,
          );
          for (const w of batch) w.resolve(run);
        } catch (err) {
          for (const w of batch) w.reject(err);
        } finally {
          await rm(file, { force: true }).catch(() => undefined);
        }
      }
    } finally {
      gate.running = false;
    }
  }

  private enqueue<T>(scenarioId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.scenarioQueues.get(scenarioId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(task);
    this.scenarioQueues.set(scenarioId, next);
    void next
      .catch(() => undefined)
      .then(() => {
        if (this.scenarioQueues.get(scenarioId) === next) this.scenarioQueues.delete(scenarioId);
      });
    return next;
  }

  private async runStep(invocation: ActionInvocation, key: string): Promise<ActionResponse> {
    const { action, scenarioId, stepId, epoch, operationId } = invocation;
    const done = this.store.findStep(key);
    if (done) return this.replay(done.response, done.operationId, invocation);

    const current = this.store.scenario(scenarioId);
    if (current && epoch < current.epoch) throw new StaleEpochError(current.epoch, epoch);
    // Checked again after waiting behind this scenario's earlier actions: still nothing ran.
    if (invocation.deadline !== undefined) {
      const late = this.clock.lateByMs(invocation.deadline);
      if (late > 0) throw new DeadlinePassedError(late);
    }
    // Fence first: once a higher epoch is on disk, no older request can get through, even if we crash mid-action.
    if (this.store.updateScenario(scenarioId, { epoch })) await this.store.save();

    const command = this.config.actions[action]!;
    const log = this.logger.child({
      action,
      stepId,
      scenarioId,
      epoch,
      operationId: operationId || undefined,
    });
    log.info({ event: 'action.started' }, `running action ${action}`);
    const single = {
      HA_ACTION: action,
      HA_EPOCH: String(epoch),
      HA_OPERATION_ID: operationId,
      HA_STEP_ID: stepId,
      HA_SCENARIO_ID: scenarioId,
      HA_NODE_NAME: this.config.nodeName,
    };
    const run = command.batch
      ? await this.runBatched(action, invocation)
      : await this.runner.run({
          command: command.command,
          args: command.args,
          timeoutMs: command.timeoutMs,
          maxOutputBytes: ACTION_OUTPUT_LIMIT,
          env: single,
        });

    const status = run.exitCode === 0 && !run.timedOut && !run.spawnError ? 'ok' : 'failed';
    let output = run.output;
    if (run.timedOut) output = `${output}\ntimed out after ${command.timeoutMs} ms`.trim();
    if (run.spawnError) output = `could not run ${action}: ${run.spawnError}`;
    const response: ActionResponse = {
      action,
      stepId,
      scenarioId,
      epoch,
      status,
      exitCode: run.exitCode,
      timedOut: run.timedOut,
      output: output.slice(0, ACTION_OUTPUT_LIMIT),
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      replayed: false,
    };

    const before = this.store.scenario(scenarioId)?.role ?? 'unknown';
    const role = roleAfterAction(action, status, before);
    this.store.updateScenario(scenarioId, { epoch, role });
    const entry: StepLogEntry = { key, operationId, response };
    this.store.recordStep(entry);
    await this.store.save();

    const fields = {
      event: 'action.finished',
      status,
      exitCode: run.exitCode,
      timedOut: run.timedOut,
      roleBefore: before,
      role,
    };
    if (status === 'ok') log.info(fields, `action ${action} succeeded`);
    else log.error(fields, `action ${action} failed`);
    return response;
  }
}
