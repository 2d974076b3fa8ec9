import 'reflect-metadata'; // before @ha/contracts: its decorators read metadata at load time
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActionResponse } from '@ha/contracts';
import { StateFileError } from './errors';
import { STEP_LOG_LIMIT, StateStore, StepLogEntry, appendBounded, stepKey } from './state-store';

const NODE = '0d5c9a2e-1b3f-4c6d-8e7f-9a0b1c2d3e4f';
const SCENARIO = '7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b';

function entry(i: number): StepLogEntry {
  const response: ActionResponse = {
    action: 'demote',
    stepId: `step-${i}`,
    scenarioId: SCENARIO,
    epoch: 1,
    status: 'ok',
    exitCode: 0,
    timedOut: false,
    output: '',
    startedAt: i,
    finishedAt: i,
    replayed: false,
  };
  return { key: stepKey(SCENARIO, `step-${i}`), operationId: '', response };
}

describe('appendBounded (step log)', () => {
  it('keeps only the newest entries', () => {
    let steps: StepLogEntry[] = [];
    for (let i = 0; i < 12; i++) steps = appendBounded(steps, entry(i), 10);
    expect(steps).toHaveLength(10);
    expect(steps[0].response.stepId).toBe('step-2');
    expect(steps[9].response.stepId).toBe('step-11');
  });

  it('replaces an entry with the same key instead of duplicating it', () => {
    const steps = appendBounded([entry(1), entry(2)], entry(1), 10);
    expect(steps.map((s) => s.response.stepId)).toEqual(['step-2', 'step-1']);
  });
});

describe('StateStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-state-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts empty when there is no file, and round-trips epochs, roles and steps', async () => {
    const file = join(dir, 'state.json');
    const store = StateStore.load(file, NODE);
    expect(store.scenarios()).toEqual([]);
    store.updateScenario(SCENARIO, { epoch: 4, role: 'production' });
    store.recordStep(entry(1));
    await store.save();

    const again = StateStore.load(file, NODE);
    expect(again.scenario(SCENARIO)).toMatchObject({ epoch: 4, role: 'production' });
    expect(again.findStep(stepKey(SCENARIO, 'step-1'))?.response.status).toBe('ok');
    // The temporary file was renamed away.
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('never lets an epoch go backwards', () => {
    const store = StateStore.load(join(dir, 's.json'), NODE);
    store.updateScenario(SCENARIO, { epoch: 5, role: 'replica' });
    store.updateScenario(SCENARIO, { epoch: 3, role: 'demoted' });
    expect(store.scenario(SCENARIO)).toMatchObject({ epoch: 5, role: 'demoted' });
  });

  it('bounds the persisted step log', async () => {
    const file = join(dir, 'state.json');
    const store = StateStore.load(file, NODE, 5);
    for (let i = 0; i < 8; i++) store.recordStep(entry(i));
    await store.save();
    const saved = JSON.parse(await readFile(file, 'utf8'));
    expect(saved.steps).toHaveLength(5);
    expect(store.findStep(stepKey(SCENARIO, 'step-0'))).toBeUndefined();
    expect(store.findStep(stepKey(SCENARIO, 'step-7'))).toBeDefined();
    expect(STEP_LOG_LIMIT).toBe(1000);
  });

  it('serializes concurrent saves and keeps the last change', async () => {
    const file = join(dir, 'state.json');
    const store = StateStore.load(file, NODE);
    const saves: Promise<void>[] = [];
    for (let epoch = 1; epoch <= 20; epoch++) {
      store.updateScenario(SCENARIO, { epoch });
      saves.push(store.save());
    }
    await Promise.all(saves);
    expect(JSON.parse(await readFile(file, 'utf8')).scenarios[SCENARIO].epoch).toBe(20);
  });

  it('refuses a corrupt file instead of resetting epochs', async () => {
    const file = join(dir, 'state.json');
    await writeFile(file, '{"version":1,"nodeId":');
    expect(() => StateStore.load(file, NODE)).toThrow(StateFileError);
    expect(() => StateStore.load(file, NODE)).toThrow(/corrupt.*refusing to start/);
  });

  it('refuses a file of another node or with a bad epoch', async () => {
    const file = join(dir, 'state.json');
    const data = {
      version: 1,
      nodeId: NODE,
      scenarios: { [SCENARIO]: { epoch: -1, role: 'production' } },
      assignments: [],
      steps: [],
    };
    await writeFile(file, JSON.stringify(data));
    expect(() => StateStore.load(file, NODE)).toThrow(/epoch is not an integer in 0\.\.2147483647/);
    // A forged epoch beyond what the orchestrator can ever issue (PostgreSQL integer) is refused too.
    const forged = { ...data, scenarios: { [SCENARIO]: { epoch: 2 ** 31, role: 'production' } } };
    await writeFile(file, JSON.stringify(forged));
    expect(() => StateStore.load(file, NODE)).toThrow(/epoch is not an integer/);
    await writeFile(file, JSON.stringify({ ...data, scenarios: {} }));
    expect(() => StateStore.load(file, SCENARIO)).toThrow(/belongs to node/);
  });
});
