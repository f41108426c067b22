import { z } from 'zod';
import {
  MigrationService,
  parseApprovers,
  type MigrationServiceDeps,
  type TemporalDeps,
} from '../../migrations';
import type { JobStatus, MigrationJob } from '../../store/schema';
import type { MigrationProgress } from '../../workflows/migration-contract';
import type { Caller } from '../auth';
import { storageUriMeta } from '../openapi';
import { idParam, iso, pageOf, pageQuery, type Routes } from '../route';
import { parseInput } from '../validate';
import { tierSchema } from './datasets';

export type { TemporalDeps } from '../../migrations';

/**
 * Migration jobs over HTTP: planning (`POST /plan-migration`, `POST /recommendations/{id}/apply`),
 * listing and inspecting (`GET /jobs`, `GET /jobs/{job_id}`), and steering a running
 * migration (`approve`, `cancel`, `retry`). The rules live in the migration service
 * (migrations/service.ts), which the CLI and the placement sweep call too; this file holds
 * only the request and answer shapes.
 */
export interface JobsDeps extends MigrationServiceDeps {
  /** Built from the other deps when not given. */
  migrations?: MigrationService;
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

/** A bandwidth limit in bytes per second, or null for none (plans, policies, running jobs). */
export const bytesPerSecond = z
  .number({ error: 'must be a number of bytes per second, or null for no limit' })
  .int('must be a whole number of bytes per second')
  .positive('must be a positive number of bytes per second (null: no limit)')
  .max(Number.MAX_SAFE_INTEGER, `must be at most ${Number.MAX_SAFE_INTEGER}`)
  .nullable();

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
  max_bytes_per_s: bytesPerSecond
    .optional()
    .describe(
      "Bandwidth limit of the copy, bytes per second; null: none; left out: the policy's. The worker's DIM_COPY_MAX_BYTES_PER_S caps it",
    ),
};

export const PlanMigration = z.strictObject({
  dataset_id: z
    .number({ error: 'must be a dataset id (a number)' })
    .int('must be a whole number')
    .positive('must be positive'),
  target_location: z
    .string({ error: 'must be a storage URI such as file:///data/x' })
    .min(1, 'must not be empty')
    .max(2000, 'must be at most 2000 characters')
    .meta(storageUriMeta),
  storage_class: z
    .string({ error: 'must be a storage class name' })
    .min(1, 'must not be empty')
    .max(64, 'must be at most 64 characters')
    .default('standard'),
  target_tier: tierSchema.optional(),
  dry_run: z
    .boolean({ error: 'must be true or false' })
    .optional()
    .describe('true: answer the plan (checks, cost, break-even) without starting anything'),
  ...planOptions,
});

const ApplyOptions = z.strictObject(planOptions);

const jobIdParam = z.object({
  job_id: z.uuid({ error: 'must be a job id (a UUID)' }),
});

const BandwidthBody = z.strictObject({
  max_bytes_per_s: bytesPerSecond.describe(
    "The job's new bandwidth limit, bytes per second; null: none of its own (the worker's DIM_COPY_MAX_BYTES_PER_S still caps it)",
  ),
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
  bytes_per_s: z
    .number()
    .nullable()
    .describe(
      "The copy's current rate, bytes per second over the last few seconds; null when not copying",
    ),
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
  retire_grace_s: z.number(),
  four_eyes: z.boolean(),
  approvers: z.array(z.string()),
  retire_linked_files: z.boolean(),
  approved_by: z.string().nullable(),
  cancelled_by: z.string().nullable(),
  retired_by: z.string().nullable(),
  max_bytes_per_s: z
    .number()
    .nullable()
    .describe(
      "The job's bandwidth limit, bytes per second; null: none (the worker's cap still applies)",
    ),
  progress: ProgressSchema,
  temporal_ui_url: z.string().nullable(),
});

const usdNumber = (what: string) => z.number().describe(`${what}, USD`);

/** The answer of a dry run (migrations/service.ts `dryRun`): nothing was written or started. */
export const DryRunOut = z.object({
  dry_run: z.literal(true),
  ok: z.boolean().describe('Every check passed: planning it for real would start a migration'),
  dataset_id: z.number(),
  source_uri: z.string(),
  target_location: z.string(),
  storage_class: z.string(),
  current_tier: tierSchema,
  target_tier: tierSchema.nullable(),
  job_key: z.string(),
  existing_job_id: z
    .string()
    .nullable()
    .describe('The job planning it would return (same job_key), if one exists'),
  objects: z.number().describe("The dataset's registered object count"),
  bytes: z.number().describe("The dataset's registered size in bytes (not a fresh listing)"),
  cost: z
    .object({
      from: tierSchema,
      to: tierSchema,
      monthly_before_usd: usdNumber('Cost a month in the current tier'),
      monthly_after_usd: usdNumber('Cost a month in the target tier'),
      saving_usd_month: usdNumber('Monthly saving (negative: the move costs more a month)'),
      move_usd: usdNumber("The move's one-off cost"),
      move: z.object({
        retrieval: usdNumber('Retrieval out of the current tier'),
        egress: usdNumber('Egress out of the current tier'),
        requests: usdNumber('Write requests into the target tier'),
        early_deletion: usdNumber("The current tier's minimum-storage charge still due"),
        early_deletion_days: z.number(),
        total: usdNumber('Sum of the above'),
      }),
      payback_days: z
        .number()
        .nullable()
        .describe('Days until the saving pays the move; null: never'),
      horizon_days: z.number(),
      pays_back: z.boolean().describe('The saving over horizon_days covers the move'),
    })
    .nullable()
    .describe('null when the destination is no tier of the tier table'),
  safety: z
    .object({
      require_approval: z.boolean(),
      retire_source: z.boolean(),
      retire_grace_s: z.number(),
      four_eyes: z.boolean(),
      approvers: z.array(z.string()),
    })
    .nullable()
    .describe('The effective safety of policy and request; null when the request is refused'),
  checks: z.array(
    z.object({
      name: z.enum([
        'same_plan_for_key',
        'policy_safety',
        'one_migration_at_a_time',
        'destination_free_of_datasets',
        'destination_free_of_migrations',
      ]),
      ok: z.boolean(),
      detail: z.string(),
    }),
  ),
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
    retire_grace_s: job.retire_grace_s,
    four_eyes: job.four_eyes === 1,
    approvers: parseApprovers(job.approvers),
    retire_linked_files: job.retire_linked_files === 1,
    approved_by: job.approved_by,
    cancelled_by: job.cancelled_by,
    retired_by: job.retired_by,
    max_bytes_per_s: job.max_bytes_per_s === null ? null : Number(job.max_bytes_per_s),
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
      bytes_per_s:
        job.status === 'copying' && job.bytes_per_s !== null ? Number(job.bytes_per_s) : null,
    },
    temporal_ui_url: uiUrl(t, job),
  };
  if (live) out.live = live;
  return out;
}

function optionalBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  return parseInput(schema, body ?? {}, 'body');
}

const JOBS_CURSOR = /^\d+_[0-9a-f-]{36}$/;

export function registerJobs(routes: Routes, deps: JobsDeps): void {
  const service = deps.migrations ?? new MigrationService(deps);
  const t = deps.temporal;
  const planned = ({ job, created }: { job: MigrationJob; created: boolean }) => ({
    status: created ? 201 : 200,
    body: jobJson(job, t),
    headers: { Location: `/jobs/${job.job_id}` },
  });

  routes.add(
    {
      method: 'post',
      path: '/plan-migration',
      summary:
        "Plan a migration of a dataset to a location and storage class; planning the same thing again returns the same job. require_approval, retire_source and retire_grace_s may only make the migration safer than the dataset's policy unless the caller is an admin. With dry_run: true, answers 200 with the plan (objects, bytes, cost, break-even, checks passed or failed) and starts or writes nothing",
      tag: 'jobs',
      role: 'operator',
      body: PlanMigration,
      response: JobOut,
      // 200: the job planned before (same job_key), or the answer of a dry run.
      responseByStatus: { 200: z.union([JobOut, DryRunOut]) },
      success: [200, 201],
      readOnly: (body) => body.dry_run === true,
    },
    async ({ body, caller, req }) => {
      const { dry_run: dryRun, ...plan } = body;
      if (dryRun) {
        return {
          status: 200,
          body: await service.dryRun(plan, caller, req.get('idempotency-key')),
        };
      }
      return planned(await service.plan(plan, caller, req.get('idempotency-key')));
    },
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
      success: [200, 201],
    },
    async ({ params, caller, req }) =>
      planned(
        await service.applyRecommendation(
          params.id,
          optionalBody(ApplyOptions, req.body),
          caller,
          req.get('idempotency-key'),
        ),
      ),
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
      response: pageOf(JobOut),
    },
    async ({ query }) => {
      let after: { submittedAt: number; jobId: string } | undefined;
      if (query.cursor) {
        const [ts, id] = query.cursor.split('_');
        after = { submittedAt: Number(ts), jobId: id! };
      }
      const rows = await service.list({
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
          items: items.map((j) => jobJson(j, t)),
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
      const { job, live } = await service.get(params.job_id);
      return { body: jobJson(job, t, live) };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/jobs/:job_id/approve',
      summary:
        "Approve a job that waits for approval (refused with 403 when the policy's four-eyes rule or approver list forbids this caller)",
      tag: 'jobs',
      role: 'operator',
      params: jobIdParam,
      response: JobOut,
      success: [202],
    },
    async ({ params, caller }) => ({
      status: 202,
      body: jobJson(await service.approve(params.job_id, caller), t),
    }),
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
      success: [202],
    },
    async ({ params, caller, req }) => {
      const { reason } = optionalBody(SignalBody, req.body);
      const job = await service.cancel(
        params.job_id,
        caller,
        reason ?? `cancelled by ${caller.name} through the API`,
      );
      return { status: 202, body: jobJson(job, t) };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/jobs/:job_id/bandwidth',
      summary:
        'Change the bandwidth limit of a job that has not ended (max_bytes_per_s, null: none): a running copy applies it within a second, where it is. Refused (409) once the job ended',
      tag: 'jobs',
      role: 'operator',
      params: jobIdParam,
      body: BandwidthBody,
      response: JobOut,
      success: [202],
    },
    async ({ params, body, caller }) => ({
      status: 202,
      body: jobJson(await service.setBandwidth(params.job_id, body.max_bytes_per_s, caller), t),
    }),
  );

  const retrySpec = {
    method: 'post' as const,
    summary: 'Run a failed job again (its workflow id stays; a completed job never runs again)',
    tag: 'jobs',
    role: 'operator' as const,
    params: jobIdParam,
    response: JobOut,
    success: [202],
  };
  const retry = async ({ params, caller }: { params: { job_id: string }; caller: Caller }) => ({
    status: 202,
    body: jobJson(await service.retry(params.job_id, caller), t),
  });
  routes.add({ ...retrySpec, path: '/jobs/:job_id/retry' }, retry);
  // The prototype's spelling.
  routes.add(
    { ...retrySpec, path: '/jobs/retry/:job_id', summary: 'Same as POST /jobs/{job_id}/retry' },
    retry,
  );
}
