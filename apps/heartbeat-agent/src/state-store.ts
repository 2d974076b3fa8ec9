/**
 * The agent's durable memory: per-scenario epoch and role, the last assignments and the step log.
 * Written atomically (tmp + fsync + rename + fsync dir) so a crash leaves the old or the new file,
 * never half of one. A file that cannot be parsed stops the agent: silently starting from zero
 * would reset epochs and let a stale orchestrator action through.
 */
import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ActionResponse, AgentRole, ScenarioAssignment } from '@ha/contracts';
import { AGENT_ROLES, MAX_EPOCH } from '@ha/contracts/roles';
import { StateFileError } from './errors';

export const STATE_FILE_VERSION = 1;
/**
 * Steps remembered (for idempotent replays) at least; a node carrying many scenarios keeps
 * STEPS_PER_SCENARIO per assigned scenario, so one mass failover (several steps per scenario)
 * never pushes its own first steps out before a retry could ask for them.
 */
export const STEP_LOG_LIMIT = 1000;
export const STEPS_PER_SCENARIO = 8;

export interface ScenarioState {
  epoch: number;
  role: AgentRole;
  /** Wall clock, ms since epoch, of the last change. */
  updatedAt: number;
}

export interface StepLogEntry {
  /** `${scenarioId}/${stepId}`: the idempotency key. */
  key: string;
  operationId: string;
  response: ActionResponse;
}

export interface AgentStateData {
  version: number;
  nodeId: string;
  scenarios: Record<string, ScenarioState>;
  assignments: ScenarioAssignment[];
  steps: StepLogEntry[];
}

export function stepKey(scenarioId: string, stepId: string): string {
  return `${scenarioId}/${stepId}`;
}

function isNonNegativeInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/** Structural check of a loaded file; returns the reason it is unusable, or null. */
export function checkStateData(data: unknown, nodeId: string): string | null {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'not a JSON object';
  const d = data as Partial<AgentStateData>;
  if (d.version !== STATE_FILE_VERSION) return `unsupported version ${String(d.version)}`;
  if (d.nodeId !== nodeId) return `it belongs to node ${String(d.nodeId)}, not ${nodeId}`;
  if (typeof d.scenarios !== 'object' || d.scenarios === null) return 'scenarios is missing';
  for (const [id, s] of Object.entries(d.scenarios)) {
    if (!s || !isNonNegativeInt(s.epoch) || s.epoch > MAX_EPOCH)
      return `scenarios.${id}.epoch is not an integer in 0..${MAX_EPOCH}`;
    if (!(AGENT_ROLES as readonly string[]).includes(s.role)) return `scenarios.${id}.role is invalid`;
  }
  if (!Array.isArray(d.assignments)) return 'assignments is not a list';
  if (!Array.isArray(d.steps)) return 'steps is not a list';
  for (const s of d.steps) {
    if (!s || typeof s.key !== 'string' || typeof s.response !== 'object')
      return 'steps holds an invalid entry';
  }
  return null;
}

export class StateStore {
  private data: AgentStateData;
  private readonly steps = new Map<string, StepLogEntry>();
  /** scenarioId → assignment: a node may carry thousands, looked up on every heartbeat. */
  private byScenario = new Map<string, ScenarioAssignment>();
  /** scenarios() as last built, until the next change: the lease check reads it 4 times a second. */
  private scenarioList: ReadonlyArray<Readonly<{ scenarioId: string } & ScenarioState>> | null = null;
  private writing: Promise<void> | null = null;
  /** `steps` (the map) has entries data.steps (what is written) does not have yet. */
  private stepsChanged = false;
  private queued: Promise<void> | null = null;

  private constructor(
    readonly file: string,
    data: AgentStateData,
    private readonly stepLimit: number,
  ) {
    this.data = data;
    for (const entry of data.steps) this.steps.set(entry.key, entry);
    this.byScenario = new Map(data.assignments.map((a) => [a.scenarioId, a]));
  }

  /** Loads the file, or starts empty when it does not exist. Throws StateFileError otherwise. */
  static load(file: string, nodeId: string, stepLimit = STEP_LOG_LIMIT): StateStore {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return new StateStore(
          file,
          { version: STATE_FILE_VERSION, nodeId, scenarios: {}, assignments: [], steps: [] },
          stepLimit,
        );
      }
      throw new StateFileError(
        `cannot read state file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new StateFileError(
        `state file ${file} is corrupt (${(err as Error).message}); refusing to start, since epochs must not be reset. ` +
          'Repair or remove it by hand.',
      );
    }
    const problem = checkStateData(data, nodeId);
    if (problem) {
      throw new StateFileError(
        `state file ${file} is unusable: ${problem}; refusing to start. Repair or remove it by hand.`,
      );
    }
    return new StateStore(file, data as AgentStateData, stepLimit);
  }

  scenario(scenarioId: string): ScenarioState | undefined {
    return this.data.scenarios[scenarioId];
  }

  /**
   * Bumped on every change of a scenario's state or of the assignments, so that callers can keep
   * what they derive from them (the heartbeat's role reports) until it changes.
   */
  revision = 0;

  scenarios(): ReadonlyArray<Readonly<{ scenarioId: string } & ScenarioState>> {
    this.scenarioList ??= Object.entries(this.data.scenarios).map(([scenarioId, s]) => ({
      scenarioId,
      ...s,
    }));
    return this.scenarioList;
  }

  /** Sets role and/or epoch. An epoch never goes backwards here, whatever the caller passes. */
  updateScenario(scenarioId: string, patch: { epoch?: number; role?: AgentRole }): boolean {
    const current = this.data.scenarios[scenarioId];
    const epoch = Math.max(current?.epoch ?? 0, patch.epoch ?? 0);
    const role = patch.role ?? current?.role ?? 'unknown';
    if (current && current.epoch === epoch && current.role === role) return false;
    this.data.scenarios[scenarioId] = { epoch, role, updatedAt: Date.now() };
    this.scenarioList = null;
    this.revision++;
    return true;
  }

  assignments(): ScenarioAssignment[] {
    return this.data.assignments;
  }

  assignment(scenarioId: string): ScenarioAssignment | undefined {
    return this.byScenario.get(scenarioId);
  }

  setAssignments(assignments: ScenarioAssignment[]): boolean {
    if (JSON.stringify(assignments) === JSON.stringify(this.data.assignments)) return false;
    this.data.assignments = assignments;
    this.byScenario = new Map(assignments.map((a) => [a.scenarioId, a]));
    this.revision++;
    return true;
  }

  findStep(key: string): StepLogEntry | undefined {
    return this.steps.get(key);
  }

  recentSteps(limit: number): StepLogEntry[] {
    const all = [...this.steps.values()];
    return all.slice(-limit);
  }

  recordStep(entry: StepLogEntry): void {
    // The map keeps insertion order: re-inserting moves a key to the end; the oldest go first.
    this.steps.delete(entry.key);
    this.steps.set(entry.key, entry);
    const limit = Math.max(this.stepLimit, STEPS_PER_SCENARIO * this.data.assignments.length);
    while (this.steps.size > limit) this.steps.delete(this.steps.keys().next().value!);
    this.stepsChanged = true;
  }

  /**
   * Persists the current state. Writes are serialized; a call made while a write is queued joins
   * it (the queued write has not taken its snapshot yet, so it includes the caller's change).
   */
  save(): Promise<void> {
    if (this.queued) return this.queued;
    const previous = this.writing ?? Promise.resolve();
    const next: Promise<void> = previous
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        this.writing = next;
        return this.writeSnapshot();
      })
      .finally(() => {
        if (this.writing === next) this.writing = null;
      });
    this.queued = next;
    return next;
  }

  /** Waits for pending writes (shutdown). */
  async flush(): Promise<void> {
    while (this.queued || this.writing) {
      await (this.queued ?? this.writing)?.catch(() => undefined);
    }
  }

  private async writeSnapshot(): Promise<void> {
    if (this.stepsChanged) {
      this.data.steps = [...this.steps.values()];
      this.stepsChanged = false;
    }
    const text = `${JSON.stringify(this.data, null, 2)}\n`;
    const tmp = `${this.file}.${process.pid}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.file);
    syncDirectory(dirname(this.file));
  }
}

/** fsync the directory so the rename itself survives a power loss (best effort off Linux). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
