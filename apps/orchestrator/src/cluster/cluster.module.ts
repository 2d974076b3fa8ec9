import { Module } from '@nestjs/common';
import { DetectorMembership } from './membership.service';

/** Which orchestrator instances share the detection work (see membership.service.ts). */
@Module({ providers: [DetectorMembership], exports: [DetectorMembership] })
export class ClusterModule {}
