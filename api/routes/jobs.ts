import { createHash, randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { z } from 'zod';
import { overlaps } from '../../activities/copy';
import { DimError, Errors } from '../../errors';
import { resolveLocation } from '../../placement/location';
import { normalizeGcsStorageClass, normalizeS3StorageClass } from '../../storage/classes';
import { parseStorageUri } from '../../storage/uri';
import { getDataset } from '../../store/datasets';
import type { Db } from '../../store/db';
import {
  CANCELLABLE_STATUSES,
  getJob,
  getJobByKey,
  insertJobOnce,
  listJobs,
  TERMINAL_STATUSES,
  updateJob,
} from '../../store/jobs';
import { DEFAULT_POLICY_NAME, getPolicy } from '../../store/policies';
import type { Dataset, JobStatus, MigrationJob, Tier } from '../../store/schema';
import { listTiers } from '../../store/tiers';
import type { migration } from '../../workflows/migration';
import {
  approveSignal,
  cancelSignal,
  MIGRATION_WORKFLOW,
  migrationWorkflowId,
  progressQuery,
  searchAttributes,
  type MigrationInput,
  type MigrationProgress,
} from '../../workflows/migration-contract';
import type { Caller } from '../auth';
import { idParam, iso, pageQuery, type Routes } from '../route';
import { parseInput } from '../validate';
import { tierSchema, type LocationCheck } from './datasets';

/**
 * Migration jobs: planning (`POST /plan-migration`, `POST /recommendations/{id}/apply`),
 * listing and inspecting (`GET /jobs`, `GET /jobs/{job_id}`), and steering a running
 * migration (`approve`, `cancel`, `retry`). Each job is one workflow `migration-<job_key>`.
 */
export interface TemporalDeps {
  client: Client;
  namespace: string;
  /** Task queue of the migration workers. */
  taskQueue: string;
  /** Base URL of the Temporal Web UI, for links to a job's workflow. */
  uiUrl?: string;
}

export interface JobsDeps {
  db: Db;
  checkLocation: LocationCheck;
  temporal?: TemporalDeps;
}

const JOB_STATUSES = [
  'queued',
  'awaiting_approval',
  'copying',
  'verifying',
  'switching',
  'retiring',
  'completed',
  'failed',
  'cancelled',
  'enqueue_failed',
] as const satisfies readonly JobStatus[];

const jobKey = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9._:-]+$/, 'may hold letters, digits, ".", "_", ":" and "-"');

const planOptions = {
  require_approval: z.boolean({ error: 'must be true or false' }).optional(),
  retire_source: z.boolean({ error: 'must be true or false' }).optional(),
  retire_grace_s: z
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(0, 'must not be negative')
    .max(30 * 86400, 'must be at most 30 days (2592000 s)')
    .optional(),
  job_key: jobKey.optional(),
};

export const PlanMigration = z.strictObject({
  dataset_id: z
    .number({ error: 'must be a dataset id (a number)' })
    .int('must be a whole number')
    .positive('must be positive'),
  target_location: z
    .string({ error: 'must be a storage URI such as file:///data/x' })
    .min(1, 'must not be empty')
    .max(2000, 'must be at most 2000 characters'),
  storage_class: z
    .string({ error: 'must be a storage class name' })
    .min(1, 'must not be empty')
    .max(64, 'must be at most 64 characters')
    .default('standard'),
  target_tier: tierSchema.optional(),
  ...planOptions,
});

const ApplyOptions = z.strictObject(planOptions);

const jobIdParam = z.object({
  job_id: z.uuid({ error: 'must be a job id (a UUID)' }),
});

const SignalBody = z.strictObject({
  reason: z.string().min(1).max(500, 'must be at most 500 characters').optional(),
});

const ProgressSchema = z.object({
  bytes_done: z.number(),
  bytes_total: z.number(),
  objects_done: z.number(),
  objects_total: z.number(),
  percent: z.number().nullable(),
});

export const JobOut = z.object({
  job_id: z.string(),
  job_key: z.string(),
  dataset_id: z.number(),
  source_uri: z.string(),
  dest_uri: z.string(),
  dest_storage_class: z.string(),
  target_tier: tierSchema.nullable(),
  status: z.enum(JOB_STATUSES),
  error: z.string().nullable(),
  submitted_at: z.string(),
  updated_at: z.string(),
  workflow_id: z.string(),
  run_id: z.string().nullable(),
  recommendation_id: z.number().nullable(),
  requested_by: z.string(),
  require_approval: z.boolean(),
  retire_source: z.boolean(),
  progress: ProgressSchema,
  temporal_ui_url: z.string().nullable(),
});

type JobJson = z.infer<typeof JobOut> & { live?: MigrationProgress };

function uiUrl(t: TemporalDeps | undefined, job: MigrationJob): string | null {
  if (!t?.uiUrl) return null;
  const base = `${t.uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(t.namespace)}/workflows/${encodeURIComponent(job.workflow_id)}`;
  return job.run_id ? `${base}/${encodeURIComponent(job.run_id)}/history` : base;
}

export function jobJson(job: MigrationJob, t?: TemporalDeps, live?: MigrationProgress): JobJson {
  const bytesTotal = Number(job.bytes_total);
  const bytesDone = Number(job.bytes_done);
  const out: JobJson = {
    job_id: job.job_id,
    job_key: job.job_key,
    dataset_id: job.dataset_id,
    source_uri: job.source_uri,
    dest_uri: job.dest_uri,
    dest_storage_class: job.dest_storage_class,
    target_tier: job.target_tier,
    status: job.status,
    error: job.error,
    submitted_at: iso(job.submitted_at)!,
    updated_at: iso(job.updated_at)!,
    workflow_id: job.workflow_id,
    run_id: job.run_id,
    recommendation_id: job.recommendation_id,
    requested_by: job.requested_by,
    require_approval: job.require_approval === 1,
    retire_source: job.retire_source === 1,
    progress: {
      bytes_done: bytesDone,
      bytes_total: bytesTotal,
      objects_done: job.objects_done,
      objects_total: job.objects_total,
      percent:
        job.status === 'completed'
          ? 100
          : bytesTotal > 0
            ? Math.min(100, Math.round((bytesDone / bytesTotal) * 1000) / 10)
            : null,
    },
    temporal_ui_url: uiUrl(t, job),
  };
  if (live) out.live = live;
  return out;
}

/** The job_key of a plan without one: the same dataset version, place and class → the same job. */
export function derivedJobKey(d: Dataset, dest: string, storageClass: string): string {
  return createHash('sha256')
    .update(`dim-migration\0${d.id}\0${d.version}\0${dest}\0${storageClass}`)
    .digest('hex')
    .slice(0, 32);
}

function normalizeStorageClass(uri: string, storageClass: string): string {
  const { scheme } = parseStorageUri(uri, 'body.target_location');
  try {
    if (scheme === 's3') return normalizeS3StorageClass(storageClass);
    if (scheme === 'gs') return normalizeGcsStorageClass(storageClass);
  } catch (err) {
    if (err instanceof DimError)
      throw Errors.invalid('body.storage_class', err.message.replace(/^storage_class: /, ''));
    throw err;
  }
  return storageClass;
}

function needTemporal(t: TemporalDeps | undefined): TemporalDeps {
  if (!t)
    throw Errors.unavailable(
      'this API runs without a Temporal client: migrations cannot start here',
    );
  return t;
}

export function migrationInput(job: MigrationJob, retireGraceS: number): MigrationInput {
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
    retireGraceS,
    requestedBy: job.requested_by,
  };
}

const START_DEADLINE_MS = 5000;

/**
 * Starts (or finds) the job's workflow. USE_EXISTING returns the running one;
 * ALLOW_DUPLICATE_FAILED_ONLY lets a failed job run again but never a completed one.
 * When Temporal cannot be reached the job is marked enqueue_failed and the caller gets a 503.
 */
async function startWorkflow(
  db: Db,
  t: TemporalDeps,
  job: MigrationJob,
  graceS: number,
): Promise<MigrationJob> {
  try {
    // Bounded: with Temporal down the client would retry for a long while; the row keeps the job.
    const handle = await t.client.connection.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      t.client.workflow.start<typeof migration>(MIGRATION_WORKFLOW, {
        taskQueue: t.taskQueue,
        workflowId: job.workflow_id,
        args: [migrationInput(job, graceS)],
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
    const row = await db
      .updateTable('migration_jobs')
      .set({
        run_id: handle.firstExecutionRunId,
        ...(job.status === 'enqueue_failed' ? { status: 'queued' as const, error: null } : {}),
        updated_at: Date.now(),
      })
      .where('job_id', '=', job.job_id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return row;
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

async function policyFor(db: Db, d: Dataset) {
  return getPolicy(db, d.policy ?? DEFAULT_POLICY_NAME);
}

async function inferTier(db: Db, d: Dataset, dest: string): Promise<Tier | null> {
  for (const t of await listTiers(db)) {
    if (resolveLocation(t.location_template, d) === dest) return t.name;
  }
  return null;
}

interface PlanRequest {
  dataset_id: number;
  target_location: string;
  storage_class: string;
  target_tier?: Tier;
  require_approval?: boolean;
  retire_source?: boolean;
  retire_grace_s?: number;
  job_key?: string;
  recommendation_id?: number;
}

/** Plans a migration: one row per job_key, one workflow per row, the same job when planned again. */
async function plan(
  deps: JobsDeps,
  body: PlanRequest,
  caller: Caller,
  idempotencyKey: string | undefined,
): Promise<{ status: number; body: JobJson; headers: Record<string, string> }> {
  const { db } = deps;
  const t = needTemporal(deps.temporal);
  const d = await getDataset(db, body.dataset_id);
  if (!d) {
    throw new DimError(
      'not_found',
      404,
      `body.dataset_id: dataset ${body.dataset_id} does not exist`,
      'body.dataset_id',
    );
  }
  const dest = await deps.checkLocation(body.target_location, 'body.target_location');
  const storageClass = normalizeStorageClass(dest, body.storage_class);
  if (idempotencyKey !== undefined) {
    const parsed = jobKey.safeParse(idempotencyKey);
    if (!parsed.success)
      throw Errors.invalid('header.Idempotency-Key', parsed.error.issues[0]!.message);
  }
  // A key the client chose finds its job even after the dataset moved (planning again is a no-op).
  const explicitKey = body.job_key ?? idempotencyKey;
  const known = explicitKey !== undefined ? await getJobByKey(db, explicitKey) : undefined;
  if (known) {
    if (
      known.dataset_id !== d.id ||
      known.dest_uri !== dest ||
      known.dest_storage_class !== storageClass
    ) {
      throw Errors.conflict(
        `job_key ${explicitKey} belongs to another migration (job ${known.job_id}: dataset ${known.dataset_id} to ${known.dest_uri}, ${known.dest_storage_class}); use a new key`,
        body.job_key !== undefined ? 'body.job_key' : 'header.Idempotency-Key',
      );
    }
    const policy = await policyFor(db, d);
    const again =
      TERMINAL_STATUSES.includes(known.status) && known.status !== 'enqueue_failed'
        ? known
        : await startWorkflow(db, t, known, body.retire_grace_s ?? policy?.retire_grace_s ?? 0);
    return { status: 200, body: jobJson(again, t), headers: { Location: `/jobs/${again.job_id}` } };
  }
  if (overlaps(d.path_uri, dest)) {
    throw Errors.invalid(
      'body.target_location',
      `overlaps the dataset's current location ${d.path_uri}: choose a location outside it`,
    );
  }
  const key = body.job_key ?? idempotencyKey ?? derivedJobKey(d, dest, storageClass);
  // One migration of a dataset at a time (another destination would race this one's switch).
  const busy = await db
    .selectFrom('migration_jobs')
    .select(['job_id', 'job_key', 'status', 'dest_uri'])
    .where('dataset_id', '=', d.id)
    .where('status', 'not in', [...TERMINAL_STATUSES])
    .executeTakeFirst();
  if (busy && busy.job_key !== key) {
    throw new DimError(
      'conflict',
      409,
      `dataset ${d.id} is being migrated to ${busy.dest_uri} (job ${busy.job_id}, ${busy.status}); wait for it or cancel it first`,
      'body.dataset_id',
      { job_id: busy.job_id },
    );
  }
  const policy = await policyFor(db, d);
  const graceS = body.retire_grace_s ?? policy?.retire_grace_s ?? 0;
  const now = Date.now();
  const { job, created } = await insertJobOnce(db, {
    job_id: randomUUID(),
    job_key: key,
    dataset_id: d.id,
    source_uri: d.path_uri,
    dest_uri: dest,
    dest_storage_class: storageClass,
    target_tier: body.target_tier ?? (await inferTier(db, d, dest)),
    status: 'queued',
    error: null,
    bytes_done: 0,
    bytes_total: Number(d.size_bytes),
    objects_done: 0,
    objects_total: d.object_count,
    workflow_id: migrationWorkflowId(key),
    run_id: null,
    recommendation_id: body.recommendation_id ?? null,
    requested_by: caller.name,
    require_approval: (body.require_approval ?? !!policy?.require_approval) ? 1 : 0,
    retire_source: (body.retire_source ?? !!policy?.retire_source) ? 1 : 0,
    submitted_at: now,
    updated_at: now,
  });
  if (
    !created &&
    (job.dataset_id !== d.id || job.dest_uri !== dest || job.dest_storage_class !== storageClass)
  ) {
    throw Errors.conflict(
      `job_key ${key} belongs to another migration (job ${job.job_id}: dataset ${job.dataset_id} to ${job.dest_uri}, ${job.dest_storage_class}); use a new key`,
      body.job_key !== undefined ? 'body.job_key' : 'header.Idempotency-Key',
    );
  }
  // Start the workflow even for an existing row: the first request may have died in between.
  const started =
    TERMINAL_STATUSES.includes(job.status) && job.status !== 'enqueue_failed'
      ? job
      : await startWorkflow(db, t, job, graceS);
  return {
    status: created ? 201 : 200,
    body: jobJson(started, t),
    headers: { Location: `/jobs/${started.job_id}` },
  };
}

async function loadJob(db: Db, jobId: string): Promise<MigrationJob> {
  const job = await getJob(db, jobId);
  if (!job) throw Errors.notFound('job', jobId);
  return job;
}

/** The workflow's own view (status, approvals, refusals), or undefined when it does not answer soon. */
async function queryProgress(
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

function optionalBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  return parseInput(schema, body ?? {}, 'body');
}

const JOBS_CURSOR = /^\d+_[0-9a-f-]{36}$/;

export function registerJobs(routes: Routes, deps: JobsDeps): void {
  const { db } = deps;

  routes.add(
    {
      method: 'post',
      path: '/plan-migration',
      summary:
        'Plan a migration of a dataset to a location and storage class; planning the same thing again returns the same job',
      tag: 'jobs',
      role: 'operator',
      body: PlanMigration,
      response: JobOut,
    },
    ({ body, caller, req }) => plan(deps, body, caller, req.get('idempotency-key')),
  );

  routes.add(
    {
      method: 'post',
      path: '/recommendations/:id/apply',
      summary:
        'Start the migration a recommendation proposes (optional body: require_approval, retire_source, retire_grace_s, job_key)',
      tag: 'jobs',
      role: 'operator',
      params: idParam,
      response: JobOut,
    },
    async ({ params, caller, req }) => {
      const opts = optionalBody(ApplyOptions, req.body);
      const rec = await db
        .selectFrom('recommendations')
        .selectAll()
        .where('id', '=', params.id)
        .executeTakeFirst();
      if (!rec) throw Errors.notFound('recommendation', params.id);
      const d = await getDataset(db, rec.dataset_id);
      if (!d) throw Errors.notFound('dataset', rec.dataset_id);
      if (rec.recommended_tier === d.current_tier && rec.target_location === d.path_uri) {
        throw Errors.conflict(
          `recommendation ${rec.id} keeps dataset ${d.id} where it is (${d.current_tier}, ${d.path_uri}): nothing to migrate`,
        );
      }
      return plan(
        deps,
        {
          dataset_id: rec.dataset_id,
          target_location: rec.target_location,
          storage_class: rec.storage_class,
          target_tier: rec.recommended_tier,
          recommendation_id: rec.id,
          ...opts,
        },
        caller,
        req.get('idempotency-key'),
      );
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/jobs',
      summary:
        'List migration jobs, newest first (filter by status and dataset; cursor pagination)',
      tag: 'jobs',
      role: 'viewer',
      query: pageQuery.extend({
        status: z
          .enum(JOB_STATUSES, { error: `must be one of ${JOB_STATUSES.join(', ')}` })
          .optional(),
        dataset_id: z.coerce
          .number({ error: 'must be a number' })
          .int('must be a whole number')
          .positive('must be positive')
          .optional(),
        cursor: z
          .string()
          .regex(JOBS_CURSOR, 'must be a next_cursor value from a previous page')
          .optional(),
      }),
    },
    async ({ query }) => {
      let after: { submittedAt: number; jobId: string } | undefined;
      if (query.cursor) {
        const [ts, id] = query.cursor.split('_');
        after = { submittedAt: Number(ts), jobId: id! };
      }
      const rows = await listJobs(db, {
        status: query.status,
        datasetId: query.dataset_id,
        after,
        limit: query.limit + 1,
      });
      const more = rows.length > query.limit;
      const items = more ? rows.slice(0, query.limit) : rows;
      const last = items[items.length - 1];
      return {
        body: {
          items: items.map((j) => jobJson(j, deps.temporal)),
          next_cursor: more && last ? `${last.submitted_at}_${last.job_id}` : null,
        },
      };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/jobs/:job_id',
      summary:
        'One migration job, with live progress from its workflow while it runs and a link to the Temporal Web UI',
      tag: 'jobs',
      role: 'viewer',
      params: jobIdParam,
      response: JobOut,
    },
    async ({ params }) => {
      const job = await loadJob(db, params.job_id);
      const t = deps.temporal;
      const live =
        t && !TERMINAL_STATUSES.includes(job.status) ? await queryProgress(t, job) : undefined;
      // The row may have moved on while the workflow answered.
      return { body: jobJson((await getJob(db, job.job_id)) ?? job, t, live) };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/jobs/:job_id/approve',
      summary: 'Approve a job that waits for approval',
      tag: 'jobs',
      role: 'operator',
      params: jobIdParam,
      response: JobOut,
    },
    async ({ params, caller }) => {
      const t = needTemporal(deps.temporal);
      const job = await loadJob(db, params.job_id);
      if (!job.require_approval) {
        throw Errors.conflict(`job ${job.job_id} does not require approval (it is ${job.status})`);
      }
      if (job.status !== 'awaiting_approval' && job.status !== 'queued') {
        throw Errors.conflict(`job ${job.job_id} is not waiting for approval: it is ${job.status}`);
      }
      await signal(t, job, () =>
        t.client.workflow.getHandle(job.workflow_id).signal(approveSignal, { by: caller.name }),
      );
      return { status: 202, body: jobJson(job, t) };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/jobs/:job_id/cancel',
      summary:
        'Cancel a job before its switch: the copy stops and what it wrote is removed. Refused (409) once the switch began',
      tag: 'jobs',
      role: 'operator',
      params: jobIdParam,
      response: JobOut,
    },
    async ({ params, caller, req }) => {
      const t = needTemporal(deps.temporal);
      const { reason } = optionalBody(SignalBody, req.body);
      const job = await loadJob(db, params.job_id);
      if (!CANCELLABLE_STATUSES.includes(job.status)) {
        const why =
          job.status === 'switching' || job.status === 'retiring'
            ? `the dataset is switching or has switched to ${job.dest_uri} (status ${job.status}); migrate it back with a new plan instead`
            : `the job has ended (${job.status})`;
        throw new DimError(
          'cancel_refused',
          409,
          `job ${job.job_id} cannot be cancelled: ${why}`,
          undefined,
          {
            job_id: job.job_id,
            job_status: job.status,
          },
        );
      }
      await signal(t, job, () =>
        t.client.workflow.getHandle(job.workflow_id).signal(cancelSignal, {
          by: caller.name,
          reason: reason ?? `cancelled by ${caller.name} through the API`,
        }),
      );
      return { status: 202, body: jobJson(job, t) };
    },
  );

  const retry = async ({ params }: { params: { job_id: string } }) => {
    const t = needTemporal(deps.temporal);
    const job = await loadJob(db, params.job_id);
    if (job.status !== 'failed' && job.status !== 'enqueue_failed') {
      const why =
        job.status === 'completed'
          ? 'it has completed; a completed migration never runs again'
          : job.status === 'cancelled'
            ? 'it was cancelled; plan it again with a new job_key or Idempotency-Key'
            : `it is still running (${job.status})`;
      throw Errors.conflict(`job ${job.job_id} cannot be retried: ${why}`);
    }
    await waitUntilClosed(t, job);
    const d = await getDataset(db, job.dataset_id);
    const policy = d ? await policyFor(db, d) : undefined;
    const reset = await updateJob(db, job.job_id, {
      status: 'queued',
      error: null,
      progress: { bytes_done: 0, objects_done: 0 },
    });
    const started = await startWorkflow(db, t, reset, policy?.retire_grace_s ?? 0);
    return { status: 202, body: jobJson(started, t) };
  };
  const retrySpec = {
    method: 'post' as const,
    summary: 'Run a failed job again (its workflow id stays; a completed job never runs again)',
    tag: 'jobs',
    role: 'operator' as const,
    params: jobIdParam,
    response: JobOut,
  };
  routes.add({ ...retrySpec, path: '/jobs/:job_id/retry' }, retry);
  // The prototype's spelling.
  routes.add(
    { ...retrySpec, path: '/jobs/retry/:job_id', summary: 'Same as POST /jobs/{job_id}/retry' },
    retry,
  );
}

/**
 * The job row says `failed` a moment before its run closes (the workflow records the
 * status, then fails). A retry must wait for the close, or USE_EXISTING would return the
 * closing run instead of starting a new one.
 */
async function waitUntilClosed(
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
        {
          retryAfterS: 5,
        },
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends a signal; a workflow Temporal no longer knows is a 409 naming the job. */
async function signal(
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
