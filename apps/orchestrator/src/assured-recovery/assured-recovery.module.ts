import { Module } from '@nestjs/common';
import { DetectionModule } from '../detection/detection.module';
import { OperationsModule } from '../operations/operations.module';
import { ArSchedulerService } from './ar-scheduler.service';
import { AssuredRecoveryController } from './assured-recovery.controller';
import { AssuredRecoveryService } from './assured-recovery.service';
import { GroupArController } from './group-ar.controller';
import { GroupArService } from './group-ar.service';

@Module({
  imports: [OperationsModule, DetectionModule],
  controllers: [AssuredRecoveryController, GroupArController],
  providers: [AssuredRecoveryService, ArSchedulerService, GroupArService],
})
export class AssuredRecoveryModule {}
