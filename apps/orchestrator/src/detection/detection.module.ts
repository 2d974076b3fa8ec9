import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ClusterModule } from '../cluster/cluster.module';
import { GroupsModule } from '../groups/groups.module';
import { HeartbeatsModule } from '../heartbeats/heartbeats.module';
import { NodesModule } from '../nodes/nodes.module';
import { OperationsModule } from '../operations/operations.module';
import { ScenariosModule } from '../scenarios/scenarios.module';
import { DetectionController } from './detection.controller';
import { DetectionMetrics } from './detection.metrics';
import { DetectorService } from './detector.service';
import { LeaderElection } from './leader-election';
import { EventEntity } from './event.entity';
import { NodeStatusEntity } from './node-status.entity';
import { StormBrakeService } from './storm-brake.service';

@Module({
  imports: [
    ClusterModule,
    TypeOrmModule.forFeature([EventEntity, NodeStatusEntity]),
    HeartbeatsModule,
    OperationsModule,
    NodesModule,
    ScenariosModule,
    GroupsModule,
  ],
  controllers: [DetectionController],
  providers: [DetectorService, StormBrakeService, LeaderElection, DetectionMetrics],
  exports: [DetectorService],
})
export class DetectionModule {}
