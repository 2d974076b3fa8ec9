import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { GroupEntity, GroupMemberEntity } from './group.entity';
import { GroupsController } from './groups.controller';
import { OperationsModule } from '../operations/operations.module';
import { GroupsService } from './groups.service';
import { GroupSplitService } from './group-split.service';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { RequestGroupOperationUseCase } from './usecases/request-group-operation.usecase';

@Module({
  imports: [TypeOrmModule.forFeature([GroupEntity, GroupMemberEntity, ScenarioEntity]), OperationsModule],
  controllers: [GroupsController],
  providers: [GroupsService, RequestGroupOperationUseCase, GroupSplitService],
  exports: [GroupsService],
})
export class GroupsModule {}
