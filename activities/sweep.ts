import { ApplicationFailure } from '@temporalio/activity';
import { DimError } from '../errors';
import type { SweepReport, SweepService } from '../sweep/service';

/** What the sweep activity needs: the sweep service, wired by the worker. */
export interface SweepActivityDeps {
  sweep?: SweepService;
}

/**
 * The activity behind the placement sweep's workflow. A sweep that another one holds the
 * lease for is no failure (the schedule runs again at its next interval): it answers null.
 * A sweep refused for its input (an incomplete tier table) fails without retrying.
 */
export function createSweepActivities(deps: SweepActivityDeps) {
  return {
    async runPlacementSweep(): Promise<SweepReport | null> {
      if (!deps.sweep) {
        throw ApplicationFailure.nonRetryable(
          'this worker has no placement sweep wired (a test worker?)',
          'not_configured',
        );
      }
      try {
        return await deps.sweep.run('schedule', 'schedule');
      } catch (err) {
        if (err instanceof DimError && err.code === 'sweep_running') return null;
        if (err instanceof DimError && err.status < 500)
          throw ApplicationFailure.nonRetryable(err.message, err.code);
        throw err;
      }
    },
  };
}
