import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { SweepReport } from '../sweep/service';

/**
 * The placement sweep's workflow, started by the Temporal Schedule `dim-placement-sweep`
 * (sweep/schedule.ts): one activity does the sweep (sweep/service.ts), so the Web UI shows
 * each run with its report as the result. null: another sweep held the lease.
 */
const { runPlacementSweep } = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  retry: { maximumAttempts: 3, initialInterval: '5 seconds' },
});

export async function placementSweep(): Promise<SweepReport | null> {
  return runPlacementSweep();
}
