import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DecisionEntity, NoteEntity } from './decision.entity';
import { DecisionsController } from './decisions.controller';
import { DecisionsService } from './decisions.service';

/** Global: operation views link their decision and show notes. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([DecisionEntity, NoteEntity])],
  controllers: [DecisionsController],
  providers: [DecisionsService],
  exports: [DecisionsService],
})
export class DecisionsModule {}
