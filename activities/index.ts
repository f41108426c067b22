import { createMigrationActivities, type MigrationDeps } from './migration';
import { createSweepActivities, type SweepActivityDeps } from './sweep';

/**
 * What activities need from the outside world, wired by the worker (and by tests). The
 * migration's ports (db, storage, events, ...) are optional so that a worker without
 * them still serves `echo`; the migration activities fail clearly when one is missing.
 */
export type ActivityDeps = MigrationDeps & SweepActivityDeps;

/** Activities are a factory over ports: the worker passes real adapters, tests too. */
export function createActivities(deps: ActivityDeps) {
  return {
    // eslint-disable-next-line @typescript-eslint/require-await -- activities are async by contract
    async echo(message: string): Promise<string> {
      deps.log.debug('echo', { message });
      return message;
    },
    ...createMigrationActivities(deps),
    ...createSweepActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
