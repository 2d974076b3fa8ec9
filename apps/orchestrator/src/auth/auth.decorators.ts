import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiRole } from './api-token.entity';
import { Principal } from './principal';

export const MIN_ROLE_KEY = 'ha:minRole';
export const PUBLIC_KEY = 'ha:public';
export const AGENT_KEY = 'ha:agent';
export const ALERTER_KEY = 'ha:alerter';
export const STREAM_TICKET_KEY = 'ha:streamTicket';

/** Lowest API role allowed (viewer < operator < admin). Endpoints without it require admin. */
export const MinRole = (role: ApiRole) => SetMetadata(MIN_ROLE_KEY, role);
/** No authentication (health, metrics, docs). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);
/** Only a node's agent token is accepted. */
export const AgentOnly = () => SetMetadata(AGENT_KEY, true);

/** Also admits `alerter` tokens (the alert receiver); other roles still need MinRole. */
export const AlertSender = () => SetMetadata(ALERTER_KEY, true);

/** Also takes a stream ticket (`?ticket=`, POST /api/v1/events/stream-ticket) instead of a bearer header. */
export const StreamTicket = () => SetMetadata(STREAM_TICKET_KEY, true);

export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest().principal,
);
