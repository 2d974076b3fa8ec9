/**
 * The self-fencing decision, as pure logic (times are monotonic milliseconds).
 *
 * Safety rule (DESIGN.md): a production agent demotes itself only when it has reached NEITHER any
 * orchestrator NOR any peer of the scenario for the lease. Losing the orchestrators alone, or the
 * peers alone, never demotes: someone who can still see us would otherwise watch production vanish
 * for no reason. The clock starts at the latest of: process start, last orchestrator contact, last
 * peer contact of that scenario.
 */
import type { AgentRole } from '@ha/contracts';

export interface LeaseInput {
  role: AgentRole;
  now: number;
  /** When this agent process started (an isolated production that boots still fences after the lease). */
  startedAt: number;
  /** Latest successful heartbeat exchange with any orchestrator (request send time). */
  lastOrchestratorContact?: number;
  /** Latest peer heartbeat exchanged with any peer of this scenario. */
  lastPeerContact?: number;
  leaseMs: number;
}

export interface LeaseDecision {
  selfFence: boolean;
  /** How long this node has been cut off from everyone (0 when it is not). */
  cutOffForMs: number;
  reason: string;
}

export function decideSelfFence(input: LeaseInput): LeaseDecision {
  const since = Math.max(
    input.startedAt,
    input.lastOrchestratorContact ?? Number.NEGATIVE_INFINITY,
    input.lastPeerContact ?? Number.NEGATIVE_INFINITY,
  );
  const cutOffForMs = Math.max(0, input.now - since);
  if (input.role !== 'production') {
    return { selfFence: false, cutOffForMs, reason: `role is ${input.role}, not production` };
  }
  if (cutOffForMs < input.leaseMs) {
    const reached =
      since === input.lastOrchestratorContact
        ? 'an orchestrator'
        : since === input.lastPeerContact
          ? 'a peer'
          : 'start';
    return {
      selfFence: false,
      cutOffForMs,
      reason: `last contact (${reached}) ${cutOffForMs} ms ago, lease ${input.leaseMs} ms`,
    };
  }
  return {
    selfFence: true,
    cutOffForMs,
    reason: `no orchestrator and no peer reached for ${cutOffForMs} ms (lease ${input.leaseMs} ms)`,
  };
}
