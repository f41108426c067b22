import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { DimError, Errors } from '../errors';
import type { Db } from '../store/db';
import { getJob, updateJob } from '../store/jobs';
import type { MigrationJob } from '../store/schema';
import type { migration } from '../workflows/migration';
import {
  MIGRATION_WORKFLOW,
  progressQuery,
  searchAttributes,
  type MigrationInput,
  type MigrationProgress,
} from '../workflows/migration-contract';

/**
 * The migration service's side of Temporal: starting a job's workflow, signalling and
 * querying it. Every Temporal failure leaves here as a typed DimError.
 */
export interface TemporalDeps {
  client: Client;
  namespace: string;
  /** Task queue of the migration workers. */
  taskQueue: string;
  /** Base URL of the Temporal Web UI, for links to a job's workflow. */
  uiUrl?: string;
}

export function needTemporal(t: TemporalDeps | undefined): TemporalDeps {
  if (!t)
    throw Errors.unavailable(
      'this process runs without a Temporal client: migrations cannot start here',
    );
  return t;
}

/** The workflow input: everything comes from the job row, the one record of a job's inputs. */
export function migrationInput(job: MigrationJob): MigrationInput {
  return {
    jobId: job.job_id,
    jobKey: job.job_key,
    datasetId: job.dataset_id,
    sourceUri: job.source_uri,
    destUri: job.dest_uri,
    storageClass: job.dest_storage_class,
    targetTier: job.target_tier,
    requireApproval: job.require_approval === 1,
    retireSource: job.retire_source === 1,
    retireGraceS: job.retire_grace_s,
    requestedBy: job.requested_by,
    fourEyes: job.four_eyes === 1,
    approvers: parseApprovers(job.approvers),
    maxBytesPerS: job.max_bytes_per_s === null ? null : Number(job.max_bytes_per_s),
  };
}

/** The JSON array of approver names kept on policies and jobs. */
export function parseApprovers(json: string): string[] {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

const START_DEADLINE_MS = 5000;

/**
 * Starts (or finds) the job's workflow. USE_EXISTING returns the running one;
 * ALLOW_DUPLICATE_FAILED_ONLY lets a failed job run again but never a completed one.
 * When Temporal cannot be reached the job is marked enqueue_failed and the caller gets a 503.
 */
export async function startWorkflow(
  db: Db,
  t: TemporalDeps,
  job: MigrationJob,
): Promise<MigrationJob> {
  try {
    // Bounded: with Temporal down the client would retry for a long while; the row keeps the job.
    const handle = await t.client.connection.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      t.client.workflow.start<typeof migration>(MIGRATION_WORKFLOW, {
        taskQueue: t.taskQueue,
        workflowId: job.workflow_id,
        args: [migrationInput(job)],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        typedSearchAttributes: [
          { key: searchAttributes.datasetId, value: job.dataset_id },
          { key: searchAttributes.jobKey, value: job.job_key },
          { key: searchAttributes.targetTier, value: job.target_tier ?? 'none' },
          {
            key: searchAttributes.status,
            value: job.status === 'enqueue_failed' ? 'queued' : job.status,
          },
        ],
        memo: { job_id: job.job_id, dataset_id: job.dataset_id },
      }),
    );
    if (job.run_id === handle.firstExecutionRunId && job.status !== 'enqueue_failed') return job;
    return await db
      .updateTable('migration_jobs')
      .set({
        run_id: handle.firstExecutionRunId,
        ...(job.status === 'enqueue_failed' ? { status: 'queued' as const, error: null } : {}),
        updated_at: Date.now(),
      })
      .where('job_id', '=', job.job_id)
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      // A closed run that may not run again (completed): the job row says how it ended.
      return (await getJob(db, job.job_id)) ?? job;
    }
    const message = err instanceof Error ? err.message : String(err);
    await updateJob(db, job.job_id, {
      status: 'enqueue_failed',
      error: `the workflow could not be started: ${message}`,
    });
    throw new DimError(
      'enqueue_failed',
      503,
      `job ${job.job_id} is recorded but its workflow could not be started (${message}); send the same request again or POST /jobs/${job.job_id}/retry`,
      undefined,
      { job_id: job.job_id, retryAfterS: 5 },
    );
  }
}

/** The workflow's own view (status, approvals, refusals), or undefined when it does not answer soon. */
export async function queryProgress(
  t: TemporalDeps,
  job: MigrationJob,
  ms = 1500,
): Promise<MigrationProgress | undefined> {
  const handle = t.client.workflow.getHandle(job.workflow_id);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      handle.query(progressQuery),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The job row says `failed` a moment before its run closes (the workflow records the
 * status, then fails). A retry must wait for the close, or USE_EXISTING would return the
 * closing run instead of starting a new one.
 */
export async function waitUntilClosed(
  t: TemporalDeps,
  job: MigrationJob,
  timeoutMs = 10_000,
): Promise<void> {
  const handle = t.client.workflow.getHandle(job.workflow_id);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let status: string;
    try {
      status = (await handle.describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return; // never started, or past retention
      throw Errors.unavailable(`could not reach Temporal: ${(err as Error).message}`, 5);
    }
    if (status === 'COMPLETED') {
      throw Errors.conflict(
        `job ${job.job_id}: its workflow completed and cannot run again; plan a new job`,
      );
    }
    if (status !== 'RUNNING') return;
    if (Date.now() > deadline) {
      throw new DimError(
        'conflict',
        409,
        `job ${job.job_id} is still finishing its last run; retry in a few seconds`,
        undefined,
        { retryAfterS: 5 },
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends a signal; a workflow Temporal no longer knows is a 409 naming the job. */
export async function sendSignal(
  t: TemporalDeps,
  job: MigrationJob,
  send: () => Promise<void>,
): Promise<void> {
  try {
    await send();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw Errors.conflict(
        `job ${job.job_id}: its workflow ${job.workflow_id} is not running (${err.message})`,
      );
    }
    throw Errors.unavailable(`could not reach Temporal: ${(err as Error).message}`, 5);
  }
}
