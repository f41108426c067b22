import {
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { removeJobWrites } from '../activities/cleanup';
import type { MoverMetrics } from '../activities/metrics';
import type { MoverTuning } from '../activities/mover-env';
import { statusMessage } from '../activities/status';
import { tryHoldJobWrites } from '../activities/write-lease';
import type { EventSink } from '../events/sink';
import type { Logger } from '../runtime/log';
import type { StorageDriver } from '../storage/driver';
import type { Db } from '../store/db';
import {
  endJobFromTemporal,
  isSwitched,
  listUnfinishedJobs,
  type EndedInTemporal,
} from '../store/jobs';
import type { MigrationJob } from '../store/schema';

/**
 * The job mirror's reconciler. The workflow mirrors every status it reaches, including a
 * cancel from the Temporal Web UI (its cancellation path runs) and a reset (the new run
 * reports itself). A run that Temporal closes without running workflow code — terminated
 * (Web UI, `temporal workflow terminate`) or timed out — cannot: this pass finds such jobs
 * (mirror not ended, latest run closed) and ends them. Before the switch it first removes
 * what the job wrote, as the workflow's undo does (removeJobWrites: only the objects in the
 * job's manifest and their unfinished writes), holding the job's write lease, so it waits
 * for a copy that is still stopping; after the switch the data stays where it is and the
 * job completes with the source kept.
 */
export interface ReconcilerDeps {
  db: Db;
  storage: { driverFor(uri: string): StorageDriver };
  events: EventSink;
  client: Client;
  namespace: string;
  log: Logger;
  metrics?: MoverMetrics;
  tuning?: MoverTuning;
}

/** Jobs looked at per pass. */
const BATCH = 200;

type Closed = 'TERMINATED' | 'TIMED_OUT';

/** How a job ends when Temporal closed its run without it: a pure decision. */
export function endOfClosedRun(
  closed: Closed,
  switched: boolean,
  reason: string,
  destUri: string,
): Pick<EndedInTemporal, 'status' | 'error' | 'action'> {
  const how =
    closed === 'TERMINATED' ? `terminated in Temporal (${reason})` : 'timed out in Temporal';
  const action = closed === 'TERMINATED' ? 'job.terminated' : 'job.timed_out';
  if (switched) {
    return {
      status: 'completed',
      error: `the workflow was ${how} after the switch: the dataset is at ${destUri}; the source was kept`,
      action,
    };
  }
  return closed === 'TERMINATED'
    ? { status: 'cancelled', error: `terminated in Temporal: ${reason}`, action }
    : { status: 'failed', error: 'timed_out: the workflow run timed out in Temporal', action };
}

/** The close event's reason and caller (terminate carries both). */
async function closeDetails(
  deps: ReconcilerDeps,
  workflowId: string,
  runId: string,
): Promise<{ reason: string; by: string }> {
  const res = await deps.client.workflowService.getWorkflowExecutionHistory({
    namespace: deps.namespace,
    execution: { workflowId, runId },
    historyEventFilterType:
      temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
  });
  const event = res.history?.events?.at(-1);
  const t = event?.workflowExecutionTerminatedEventAttributes;
  return {
    reason: t?.reason || 'no reason given',
    by: t?.identity || 'temporal',
  };
}

async function describe(
  deps: ReconcilerDeps,
  workflowId: string,
): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await deps.client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined; // not started yet, or past retention
    throw err;
  }
}

/** One job: ended in the mirror when its latest run was terminated or timed out. */
async function reconcileJob(
  deps: ReconcilerDeps,
  job: MigrationJob,
  signal: AbortSignal,
): Promise<MigrationJob | undefined> {
  const d = await describe(deps, job.workflow_id);
  const closed = d?.status.name;
  if (!d || (closed !== 'TERMINATED' && closed !== 'TIMED_OUT')) return undefined;
  // A retry (API) marks the row queued, then starts a new run: not this closed one's job.
  if (job.status === 'queued' && d.closeTime && job.updated_at > d.closeTime.getTime()) {
    return undefined;
  }
  const switched = await isSwitched(deps.db, job.job_id);
  let deleted = 0;
  if (!switched) {
    const held = await tryHoldJobWrites(deps.db, job.job_id, 'reconciler');
    if (!held) return undefined; // a copy of the closed run is still stopping: next pass
    try {
      // Still the same closed run, now that no copy writes (no reset started another).
      if ((await describe(deps, job.workflow_id))?.runId !== d.runId) return undefined;
      const env = { db: deps.db, storage: deps.storage, log: deps.log, tuning: deps.tuning };
      ({ deleted } = await removeJobWrites(
        env,
        { jobId: job.job_id, destUri: job.dest_uri },
        AbortSignal.any([signal, held.lost]),
        () => undefined,
      ));
    } finally {
      await held.release();
    }
  }
  const { reason, by } = await closeDetails(deps, job.workflow_id, d.runId);
  const end = endOfClosedRun(closed, switched, reason, job.dest_uri);
  const row = await endJobFromTemporal(deps.db, job.job_id, job.run_id, {
    ...end,
    runId: d.runId,
    by,
    details: {
      run_id: d.runId,
      workflow_status: closed,
      reason,
      previous_status: job.status,
      switched,
      deleted_objects: deleted,
    },
  });
  if (!row) return undefined;
  deps.log.info('job ended in Temporal, mirrored', {
    jobId: job.job_id,
    runId: d.runId,
    workflowStatus: closed,
    status: row.status,
    deleted,
  });
  deps.metrics?.addStatus(row.status);
  await deps.events.publish('migration_status', [
    { key: String(row.dataset_id), value: statusMessage(row) },
  ]);
  return row;
}

/** One pass over the jobs not ended; resolves the jobs it ended. */
export async function reconcileJobs(
  deps: ReconcilerDeps,
  signal: AbortSignal = new AbortController().signal,
): Promise<MigrationJob[]> {
  const ended: MigrationJob[] = [];
  for (const job of await listUnfinishedJobs(deps.db, BATCH)) {
    if (signal.aborted) break;
    try {
      const row = await reconcileJob(deps, job, signal);
      if (row) ended.push(row);
    } catch (err) {
      deps.log.warn('could not reconcile a job with Temporal', {
        jobId: job.job_id,
        err: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return ended;
}

export interface Reconciler {
  stop(): Promise<void>;
}

/** Runs a pass every `intervalMs` until stopped. */
export function startReconciler(deps: ReconcilerDeps, intervalMs: number): Reconciler {
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = reconcileJobs(deps, stopping.signal)
      .catch((err: unknown) =>
        deps.log.warn('reconcile pass failed', {
          err: err instanceof Error ? err.message : String(err),
        }),
      )
      .finally(() => {
        if (!stopping.signal.aborted) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
