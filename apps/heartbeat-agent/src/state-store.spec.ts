import 'reflect-metadata'; // before @ha/contracts: its decorators read metadata at load time
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActionResponse } from '@ha/contracts';
import { StateFileError } from './errors';
import { STEP_LOG_LIMIT, STEPS_PER_SCENARIO, StateStore, StepLogEntry, stepKey } from './state-store';

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

  it('the step log keeps the newest entries, replaces a re-recorded key, and grows with the scenarios carried', async () => {
    const file = join(dir, 'state.json');
    const store = StateStore.load(file, NODE, 10);
    for (let i = 0; i < 12; i++) store.recordStep(entry(i));
    store.recordStep(entry(5));
    await store.save();
    const saved = JSON.parse(await readFile(file, 'utf8'));
    expect(saved.steps.map((s: StepLogEntry) => s.response.stepId)).toEqual([
      'step-2',
      'step-3',
      'step-4',
      'step-6',
      'step-7',
      'step-8',
      'step-9',
      'step-10',
      'step-11',
      'step-5',
    ]);
    // A node carrying 3 scenarios keeps STEPS_PER_SCENARIO each when that is more than the limit.
    const assignment = (n: number) => ({
      scenarioId: `7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0${n}`,
      name: `s${n}`,
      epoch: 1,
      role: 'replica' as const,
      productionNodeId: NODE,
      activeNodeId: NODE,
      leaseMs: 3000,
      peers: [],
      peerToken: 'x'.repeat(16),
    });
    store.setAssignments([assignment(1), assignment(2), assignment(3)]);
    for (let i = 100; i < 140; i++) store.recordStep(entry(i));
    expect(store.recentSteps(1000)).toHaveLength(3 * STEPS_PER_SCENARIO);
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
