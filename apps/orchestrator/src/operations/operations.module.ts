import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NodesModule } from '../nodes/nodes.module';
import { AgentClient } from './agent.client';
import { OperationEntity, OperationStepEntity } from './operation.entity';
import { OperationsController } from './operations.controller';
import { OperationsQueue } from './operations.queue';
import { OperationsService } from './operations.service';
import { OperationPlanner } from './operation-planner';
import { StepHandlers } from './step-handlers';
import { StepRunner } from './step-runner';

@Module({
  imports: [TypeOrmModule.forFeature([OperationEntity, OperationStepEntity]), NodesModule],
  controllers: [OperationsController],
  providers: [OperationsQueue, OperationsService, AgentClient, StepHandlers, StepRunner, OperationPlanner],
  exports: [OperationsService, AgentClient, OperationPlanner],
})
export class OperationsModule {}
