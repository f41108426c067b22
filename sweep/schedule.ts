import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Logger } from '../runtime/log';

/**
 * The Temporal Schedule that runs the placement sweep: id `dim-placement-sweep`
 * (DIM_SWEEP_SCHEDULE_ID), every `intervalMs`, starting workflow `placementSweep` on the
 * worker's task queue. One per deployment: registering it again (a second `dim up`, every
 * `dim worker`) updates the one there to this configuration instead of adding another.
 * Two deployments that share a namespace give their schedules different ids, or the last
 * to register would take the other's sweep to its own task queue. Overlapping runs are skipped (the
 * lease in sweep/service.ts also keeps `POST /sweep` from running beside one), and a run
 * may take at most one interval or a minute, whichever is longer, so a run whose worker
 * is gone does not block the ones after it. No interval (DIM_SWEEP_INTERVAL_S=0): the
 * schedule is paused, keeping the interval it had, and its note says why.
 */
export const SWEEP_SCHEDULE_ID = 'dim-placement-sweep';

export interface SweepScheduleOptions {
  /** Default SWEEP_SCHEDULE_ID. */
  scheduleId?: string;
  taskQueue: string;
  intervalMs: number | null;
  log: Logger;
}

export async function ensureSweepSchedule(
  client: Client,
  opts: SweepScheduleOptions,
): Promise<'created' | 'updated'> {
  const id = opts.scheduleId ?? SWEEP_SCHEDULE_ID;
  const every = opts.intervalMs ?? 300_000;
  const paused = opts.intervalMs === null;
  const note = paused
    ? 'paused: DIM_SWEEP_INTERVAL_S=0 (POST /sweep or dim sweep still run one)'
    : `every ${every / 1000} s (DIM_SWEEP_INTERVAL_S)`;
  const spec = { intervals: [{ every }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'placementSweep',
    workflowId: id,
    taskQueue: opts.taskQueue,
    workflowExecutionTimeout: Math.max(every, 60_000),
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every };
  try {
    await client.schedule.create({
      scheduleId: id,
      spec,
      action,
      policies,
      state: { paused, note },
    });
    opts.log.info('registered the placement sweep schedule', { id, note });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(id);
  await handle.update((prev) => ({
    ...prev,
    // Paused: the interval it had stays, for when it is resumed.
    spec: paused ? prev.spec : spec,
    action,
    policies: paused ? prev.policies : policies,
    state: { paused, note },
  }));
  // An update does not always carry the paused state over to the server: set it as such.
  if (paused) await handle.pause(note);
  else await handle.unpause(note);
  opts.log.info('updated the placement sweep schedule', { id, note });
  return 'updated';
}
