import { ApiRole } from './api-token.entity';

export type Principal =
  | { kind: 'api'; name: string; role: ApiRole; tokenId: string | null }
  | { kind: 'agent'; name: string; nodeId: string };

/** alerter ranks below viewer: it reads nothing (the alert receiver admits it by name, see AlertSender). */
export const ROLE_RANK: Record<ApiRole, number> = { alerter: 0, viewer: 1, operator: 2, admin: 3 };

export function actorOf(p: Principal | undefined): string {
  if (!p) return 'anonymous';
  return p.kind === 'agent' ? `agent:${p.name}` : p.name;
}
