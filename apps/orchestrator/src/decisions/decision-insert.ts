/**
 * The one way a decision record is written (the detector's event queue, and a worker recording the
 * policy's refusal): an INSERT that a second copy of the same decision (its dedupKey) leaves alone.
 */
import { EntityManager } from 'typeorm';

export interface DecisionRow {
  id: string;
  scenarioId: string;
  nodeId: string | null;
  epoch: number;
  outcome: string;
  rule: string;
  message: string;
  evidence: unknown;
  thresholds: unknown;
  operationId: string | null;
  dedupKey: string;
  decidedBy: string;
}

export async function insertDecision(m: EntityManager, r: DecisionRow): Promise<void> {
  await m.query(
    `INSERT INTO decisions (id, "scenarioId", "nodeId", epoch, outcome, rule, message, evidence, thresholds,
                            "operationId", "dedupKey", "decidedBy")
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12)
     ON CONFLICT ("dedupKey") DO NOTHING`,
    [
      r.id,
      r.scenarioId,
      r.nodeId,
      r.epoch,
      r.outcome,
      r.rule,
      r.message.slice(0, 2048),
      JSON.stringify(r.evidence),
      JSON.stringify(r.thresholds),
      r.operationId,
      r.dedupKey.slice(0, 400),
      r.decidedBy,
    ],
  );
}
