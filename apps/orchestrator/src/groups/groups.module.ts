import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { GroupEntity, GroupMemberEntity } from './group.entity';
import { GroupsController } from './groups.controller';
import { OperationsModule } from '../operations/operations.module';
import { GroupsService } from './groups.service';
import { RequestGroupOperationUseCase } from './usecases/request-group-operation.usecase';

@Module({
  imports: [TypeOrmModule.forFeature([GroupEntity, GroupMemberEntity]), OperationsModule],
  controllers: [GroupsController],
  providers: [GroupsService, RequestGroupOperationUseCase],
  exports: [GroupsService],
})
export class GroupsModule {}
