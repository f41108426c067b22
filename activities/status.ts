import type { EventSink } from '../events/sink';
import { recordJobActors, startResetRun, updateJob } from '../store/jobs';
import type { Db } from '../store/db';
import type { MigrationJob } from '../store/schema';
import type { MoverMetrics } from './metrics';
import type { MigrationStatusMessage, StatusInput } from './types';

/** The `migration_status` message for a job row. */
export function statusMessage(job: MigrationJob): MigrationStatusMessage {
  return {
    job_id: job.job_id,
    job_key: job.job_key,
    dataset_id: job.dataset_id,
    status: job.status,
    bytes_done: Number(job.bytes_done),
    bytes_total: Number(job.bytes_total),
    objects_done: job.objects_done,
    objects_total: job.objects_total,
    error: job.error,
    ts: new Date(job.updated_at).toISOString(),
  };
}

/**
 * Mirrors a status change to `migration_jobs` and publishes it on `migration_status`
 * (key: dataset id). Running it twice writes the same row and publishes a duplicate,
 * which consumers of a status stream tolerate.
 */
export async function mirrorStatus(
  deps: { db: Db; events: EventSink; metrics?: MoverMetrics },
  input: StatusInput,
): Promise<void> {
  // The first status of a run a reset made: the job starts afresh (its old error goes) and
  // the audit log says so, once per run.
  const reset =
    input.reset && input.runId ? await startResetRun(deps.db, input.jobId, input.runId) : false;
  if (input.actors) await recordJobActors(deps.db, input.jobId, input.actors);
  const job = await updateJob(deps.db, input.jobId, {
    status: input.status,
    error: input.error === undefined && reset ? null : input.error,
    runId: input.runId,
    progress: input.progress,
  });
  deps.metrics?.addStatus(input.status);
  await deps.events.publish('migration_status', [
    { key: String(job.dataset_id), value: statusMessage(job) },
  ]);
}
