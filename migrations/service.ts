import { createHash, randomUUID } from 'node:crypto';
import { DimError, Errors } from '../errors';
import { planCost, type PlanCost } from '../placement/cost';
import { resolveLocation } from '../placement/location';
import { normalizeGcsStorageClass, normalizeS3StorageClass } from '../storage/classes';
import type { DatasetLocation } from '../storage/location';
import { describeRelation } from '../storage/location-key';
import { parseStorageUri } from '../storage/uri';
import { recordAudit } from '../store/audit';
import { getDataset } from '../store/datasets';
import type { Db } from '../store/db';
import {
  CANCELLABLE_STATUSES,
  getJob,
  setJobBandwidth,
  getJobByKey,
  listJobs,
  TERMINAL_STATUSES,
  updateJob,
  type JobFilter,
} from '../store/jobs';
import {
  findOverlappingDataset,
  findOverlappingMigration,
  insertJobIfFree,
  type PlanOutcome,
} from '../store/overlap';
import { DEFAULT_POLICY_NAME, getPolicy } from '../store/policies';
import type { Dataset, MigrationJob, Policy, Recommendation, Tier } from '../store/schema';
import { placementInputs } from '../store/recommendations';
import { listTiers, tierTable } from '../store/tiers';
import { approvalRefusal } from '../workflows/approval';
import {
  approveSignal,
  cancelSignal,
  migrationWorkflowId,
  setBandwidthSignal,
  type MigrationProgress,
} from '../workflows/migration-contract';
import { jobLimit } from './bandwidth';
import { effectiveSafety, type PlannerRole, type Safety, type SafetyPolicy } from './precedence';
import {
  needTemporal,
  parseApprovers,
  queryProgress,
  sendSignal,
  startWorkflow,
  waitUntilClosed,
  type TemporalDeps,
} from './temporal';

/**
 * The migration service: planning, approving, cancelling, retrying and inspecting
 * migrations, one use case per method. The API routes, the CLI and the placement sweep all
 * call it; it holds every rule about what a caller may do (the policy outranks the planner,
 * four-eyes, one migration of a dataset at a time, one job per job_key) and leaves the HTTP
 * to its callers. Errors are typed DimErrors that the API maps to problem+json.
 */

/** Who asks: an API key's name and role, or `sweep` for the placement sweep. */
export interface Actor {
  name: string;
  role: PlannerRole;
}

/**
 * Validates a location that becomes a dataset's (a migration's destination) and returns it
 * normalized with its canonical key (storage/location.ts `checkDatasetLocation`).
 */
export type DatasetLocationCheck = (uri: string, field: string) => Promise<DatasetLocation>;

export interface MigrationServiceDeps {
  db: Db;
  datasetLocation: DatasetLocationCheck;
  temporal?: TemporalDeps;
}

export interface PlanRequest {
  dataset_id: number;
  target_location: string;
  storage_class: string;
  target_tier?: Tier;
  require_approval?: boolean;
  retire_source?: boolean;
  retire_grace_s?: number;
  job_key?: string;
  recommendation_id?: number;
  /** Bandwidth limit in bytes per second; null: none; absent: the policy's (migrations/bandwidth.ts). */
  max_bytes_per_s?: number | null;
}

export type PlanOptions = Pick<
  PlanRequest,
  'require_approval' | 'retire_source' | 'retire_grace_s' | 'job_key' | 'max_bytes_per_s'
>;

/** One rule a plan must pass, and how it fared in a dry run. */
export interface DryRunCheck {
  name:
    | 'same_plan_for_key'
    | 'policy_safety'
    | 'one_migration_at_a_time'
    | 'destination_free_of_datasets'
    | 'destination_free_of_migrations';
  ok: boolean;
  /** What passed, or why it would be refused (the error the real plan would answer). */
  detail: string;
}

/** What a plan would do, from `dryRun`: nothing is written or started. */
export interface DryRun {
  dry_run: true;
  /** Every check passed: planning it for real would start a migration. */
  ok: boolean;
  dataset_id: number;
  source_uri: string;
  target_location: string;
  storage_class: string;
  current_tier: Tier;
  /** The tier the destination belongs to (given, or the tier whose template resolves to it). */
  target_tier: Tier | null;
  job_key: string;
  /** The job planning it would return (same job_key), if one exists. */
  existing_job_id: string | null;
  /** The dataset's registered object count and size (not a fresh listing of the source). */
  objects: number;
  bytes: number;
  /** The cost model's view (placement/cost.ts); null when the destination is no tier of the table. */
  cost: PlanCost | null;
  /** The effective safety (policy and request, migrations/precedence.ts); null when refused. */
  safety: {
    require_approval: boolean;
    retire_source: boolean;
    retire_grace_s: number;
    four_eyes: boolean;
    approvers: string[];
  } | null;
  checks: DryRunCheck[];
}

export interface Planned {
  job: MigrationJob;
  /** false: the same plan was made before (same job_key); this is that job. */
  created: boolean;
}

/** The job_key of a plan without one: the same dataset version, place and class → the same job. */
export function derivedJobKey(d: Dataset, dest: string, storageClass: string): string {
  return createHash('sha256')
    .update(`dim-migration\0${d.id}\0${d.version}\0${dest}\0${storageClass}`)
    .digest('hex')
    .slice(0, 32);
}

const JOB_KEY_RE = /^[A-Za-z0-9._:-]{1,128}$/;

function normalizeStorageClass(uri: string, storageClass: string, field: string): string {
  const { scheme } = parseStorageUri(uri, 'body.target_location');
  try {
    if (scheme === 's3') return normalizeS3StorageClass(storageClass);
    if (scheme === 'gs') return normalizeGcsStorageClass(storageClass);
  } catch (err) {
    if (err instanceof DimError)
      throw Errors.invalid(field, err.message.replace(/^storage_class: /, ''));
    throw err;
  }
  return storageClass;
}

/** A destination that is, holds or lies inside a dataset or a running migration (invariant 9). */
function destinationTaken(
  out: Extract<PlanOutcome, { kind: 'overlaps_dataset' | 'overlaps_migration' }>,
  dest: string,
  datasetId: number,
): DimError {
  const field = 'body.target_location';
  if (out.kind === 'overlaps_dataset') {
    const o = out.other;
    const whose = o.id === datasetId ? "the dataset's own location" : `dataset ${o.id} "${o.name}"`;
    return new DimError(
      'overlap',
      409,
      `${field}: ${dest} ${describeRelation(o.relation)} ${whose} (${o.path_uri}); a migration may not write into a dataset: choose a location outside it`,
      field,
      { dataset: { id: o.id, name: o.name, path_uri: o.path_uri }, relation: o.relation },
    );
  }
  const j = out.job;
  return new DimError(
    'overlap',
    409,
    `${field}: ${dest} overlaps ${j.uri}, the ${j.end === 'dest' ? 'destination' : 'source'} of migration job ${j.job_id} of dataset ${j.dataset_id} (${j.status}); wait for it to end or choose another location`,
    field,
    { job_id: j.job_id, dataset_id: j.dataset_id, relation: j.relation },
  );
}

/** The plan a recommendation proposes, with the caller's options. */
function planOfRecommendation(rec: Recommendation, opts: PlanOptions): PlanRequest {
  return {
    dataset_id: rec.dataset_id,
    target_location: rec.target_location,
    storage_class: rec.storage_class,
    target_tier: rec.recommended_tier,
    recommendation_id: rec.id,
    ...opts,
  };
}

/** The recommendation advises the dataset's current tier and place: nothing to migrate. */
const keepsItWhereItIs = (rec: Recommendation, d: Dataset) =>
  rec.recommended_tier === d.current_tier && rec.target_location === d.path_uri;

/** One migration of a dataset at a time: another destination would race this one's switch. */
function datasetBusy(
  datasetId: number,
  busy: Pick<MigrationJob, 'job_id' | 'status' | 'dest_uri'>,
): DimError {
  return new DimError(
    'conflict',
    409,
    `dataset ${datasetId} is being migrated to ${busy.dest_uri} (job ${busy.job_id}, ${busy.status}); wait for it or cancel it first`,
    'body.dataset_id',
    { job_id: busy.job_id },
  );
}

/** The policy's safety settings; a dataset without a policy row gets the safe defaults. */
function safetyPolicy(name: string, p: Policy | undefined): SafetyPolicy {
  return {
    name,
    require_approval: p?.require_approval === 1,
    retire_source: p?.retire_source === 1,
    retire_grace_s: p?.retire_grace_s ?? 0,
    four_eyes: p?.four_eyes === 1,
    approvers: parseApprovers(p?.approvers ?? '[]'),
    retire_linked_files: p?.retire_linked_files === 1,
  };
}

export class MigrationService {
  constructor(private readonly deps: MigrationServiceDeps) {}

  private get db(): Db {
    return this.deps.db;
  }

  /** Plans a migration: one row per job_key, one workflow per row, the same job when planned again. */
  async plan(req: PlanRequest, actor: Actor, idempotencyKey?: string): Promise<Planned> {
    const { db } = this;
    const t = needTemporal(this.deps.temporal);
    const { d, dest, destKey, storageClass, keyField, explicitKey } = await this.resolve(
      req,
      idempotencyKey,
    );
    // A key the client chose finds its job even after the dataset moved (planning again is a no-op).
    const known = explicitKey !== undefined ? await getJobByKey(db, explicitKey) : undefined;
    if (known) {
      this.checkSamePlan(known, explicitKey!, d, dest, storageClass, actor, keyField, true);
      return { job: await this.ensureStarted(t, known), created: false };
    }
    const policyName = d.policy ?? DEFAULT_POLICY_NAME;
    const policy = await getPolicy(db, policyName);
    const safety = effectiveSafety(safetyPolicy(policyName, policy), req, actor.role);
    const maxBytesPerS = jobLimit(
      policy?.max_bytes_per_s === null || policy?.max_bytes_per_s === undefined
        ? null
        : Number(policy.max_bytes_per_s),
      req.max_bytes_per_s,
    );
    const key = explicitKey ?? derivedJobKey(d, dest, storageClass);
    const now = Date.now();
    const outcome = await insertJobIfFree(db, {
      job_id: randomUUID(),
      job_key: key,
      dataset_id: d.id,
      source_uri: d.path_uri,
      dest_uri: dest,
      dest_storage_class: storageClass,
      target_tier: req.target_tier ?? (await this.inferTier(d, dest)),
      status: 'queued',
      error: null,
      bytes_done: 0,
      bytes_total: Number(d.size_bytes),
      objects_done: 0,
      objects_total: d.object_count,
      workflow_id: migrationWorkflowId(key),
      run_id: null,
      recommendation_id: req.recommendation_id ?? null,
      requested_by: actor.name,
      require_approval: safety.requireApproval ? 1 : 0,
      retire_source: safety.retireSource ? 1 : 0,
      retire_grace_s: safety.retireGraceS,
      four_eyes: safety.fourEyes ? 1 : 0,
      approvers: JSON.stringify(safety.approvers),
      retire_linked_files: safety.retireLinkedFiles ? 1 : 0,
      max_bytes_per_s: maxBytesPerS,
      submitted_at: now,
      updated_at: now,
      dest_key: destKey,
    });
    if (outcome.kind === 'dataset_busy') throw datasetBusy(d.id, outcome.job);
    if (outcome.kind === 'overlaps_dataset' || outcome.kind === 'overlaps_migration') {
      throw destinationTaken(outcome, dest, d.id);
    }
    const { job } = outcome;
    const created = outcome.kind === 'created';
    if (!created) {
      // A concurrent plan with the same key won the insert: it must be the same plan.
      this.checkSamePlan(
        job,
        key,
        d,
        dest,
        storageClass,
        actor,
        keyField,
        explicitKey !== undefined,
      );
    } else {
      await recordAudit(db, {
        actor: actor.name,
        action: 'job.planned',
        target: `job:${job.job_id}`,
        details: {
          dataset_id: d.id,
          source_uri: d.path_uri,
          dest_uri: dest,
          storage_class: storageClass,
          policy: policyName,
          ...safety,
          max_bytes_per_s: maxBytesPerS,
          recommendation_id: job.recommendation_id,
        },
      });
    }
    // Start the workflow even for an existing row: the first request may have died in between.
    return { job: await this.ensureStarted(t, job), created };
  }

  /** Plans the migration a stored recommendation proposes. */
  async applyRecommendation(
    recommendationId: number,
    opts: PlanOptions,
    actor: Actor,
    idempotencyKey?: string,
  ): Promise<Planned> {
    const { rec, d } = await this.recommendation(recommendationId);
    if (!d) throw Errors.notFound('dataset', rec.dataset_id);
    if (keepsItWhereItIs(rec, d)) {
      throw Errors.conflict(
        `recommendation ${rec.id} keeps dataset ${d.id} where it is (${d.current_tier}, ${d.path_uri}): nothing to migrate`,
      );
    }
    return this.plan(planOfRecommendation(rec, opts), actor, idempotencyKey);
  }

  async get(jobId: string): Promise<{ job: MigrationJob; live?: MigrationProgress }> {
    const job = await this.load(jobId);
    const t = this.deps.temporal;
    const live =
      t && !TERMINAL_STATUSES.includes(job.status) ? await queryProgress(t, job) : undefined;
    // The row may have moved on while the workflow answered.
    return { job: (await getJob(this.db, job.job_id)) ?? job, live };
  }

  list(filter: JobFilter): Promise<MigrationJob[]> {
    return listJobs(this.db, filter);
  }

  /**
   * Approves a job that waits. The same rule the workflow applies to the signal is checked
   * here first, so the caller gets a 403 saying why instead of a signal the workflow ignores.
   */
  async approve(jobId: string, actor: Actor): Promise<MigrationJob> {
    const t = needTemporal(this.deps.temporal);
    const job = await this.load(jobId);
    if (!job.require_approval) {
      throw Errors.conflict(`job ${job.job_id} does not require approval (it is ${job.status})`);
    }
    if (job.status !== 'awaiting_approval' && job.status !== 'queued') {
      throw Errors.conflict(`job ${job.job_id} is not waiting for approval: it is ${job.status}`);
    }
    const why = approvalRefusal(
      {
        plannedBy: job.requested_by,
        fourEyes: job.four_eyes === 1,
        approvers: parseApprovers(job.approvers),
      },
      actor.name,
    );
    if (why)
      throw Errors.forbidden(`job ${job.job_id} cannot be approved by ${actor.name}: ${why}`);
    await sendSignal(t, job, () =>
      t.client.workflow.getHandle(job.workflow_id).signal(approveSignal, { by: actor.name }),
    );
    return job;
  }

  /** Cancels a job before its switch: the copy stops and what it wrote is removed. */
  async cancel(jobId: string, actor: Actor, reason?: string): Promise<MigrationJob> {
    const t = needTemporal(this.deps.temporal);
    const job = await this.load(jobId);
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
        { job_id: job.job_id, job_status: job.status },
      );
    }
    await sendSignal(t, job, () =>
      t.client.workflow.getHandle(job.workflow_id).signal(cancelSignal, {
        by: actor.name,
        reason: reason ?? `cancelled by ${actor.name}`,
      }),
    );
    return job;
  }

  /**
   * Changes the bandwidth limit of a job that has not ended (null: none of its own; the
   * worker's cap still applies). The workflow is signalled, and the job row, which a running
   * copy reads every second, is written at once: the copy speeds up or slows down where it is.
   */
  async setBandwidth(
    jobId: string,
    maxBytesPerS: number | null,
    actor: Actor,
  ): Promise<MigrationJob> {
    const job = await this.load(jobId);
    if (TERMINAL_STATUSES.includes(job.status)) {
      throw new DimError(
        'conflict',
        409,
        `job ${job.job_id} has ended (${job.status}): its bandwidth limit can no longer change`,
        undefined,
        { job_id: job.job_id, job_status: job.status },
      );
    }
    const t = needTemporal(this.deps.temporal);
    // Bounded: with Temporal down the client would retry for a long while (503 after 5 s).
    await sendSignal(t, job, () =>
      t.client.connection.withDeadline(Date.now() + 5000, () =>
        t.client.workflow
          .getHandle(job.workflow_id)
          .signal(setBandwidthSignal, { by: actor.name, max_bytes_per_s: maxBytesPerS }),
      ),
    );
    const updated = (await setJobBandwidth(this.db, job.job_id, maxBytesPerS)) ?? job;
    await recordAudit(this.db, {
      actor: actor.name,
      action: 'job.bandwidth_changed',
      target: `job:${job.job_id}`,
      details: {
        from: job.max_bytes_per_s === null ? null : Number(job.max_bytes_per_s),
        to: maxBytesPerS,
        status: job.status,
      },
    });
    return updated;
  }

  /** Runs a failed job again with the inputs recorded on its row (its workflow id stays). */
  async retry(jobId: string, actor: Actor): Promise<MigrationJob> {
    const t = needTemporal(this.deps.temporal);
    const job = await this.load(jobId);
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
    const reset = await updateJob(this.db, job.job_id, {
      status: 'queued',
      error: null,
      progress: { bytes_done: 0, objects_done: 0 },
    });
    await recordAudit(this.db, {
      actor: actor.name,
      action: 'job.retried',
      target: `job:${job.job_id}`,
    });
    return startWorkflow(this.db, t, reset);
  }

  /**
   * What `plan` would do, without doing it: no row, no audit entry, no workflow. Bad input
   * (no such dataset, a location or storage class that is not valid) is still an error; a
   * plan that a rule would refuse answers with that check failed (`ok: false`).
   */
  async dryRun(req: PlanRequest, actor: Actor, idempotencyKey?: string): Promise<DryRun> {
    const { db } = this;
    const { d, dest, destKey, storageClass, keyField, explicitKey } = await this.resolve(
      req,
      idempotencyKey,
    );
    const checks: DryRunCheck[] = [];
    const check = async (name: DryRunCheck['name'], run: () => unknown): Promise<void> => {
      try {
        const failed = await run();
        checks.push(
          failed instanceof DimError
            ? { name, ok: false, detail: failed.message }
            : { name, ok: true, detail: typeof failed === 'string' ? failed : 'passed' },
        );
      } catch (err) {
        if (!(err instanceof DimError)) throw err;
        checks.push({ name, ok: false, detail: err.message });
      }
    };

    // The checks `plan` makes, in its order. A key the caller chose that names a job: the
    // plan would answer that job, so only "is it the same plan" applies. A derived key that
    // names a job: the safety and one-at-a-time checks apply, the overlap checks do not.
    const known = explicitKey !== undefined ? await getJobByKey(db, explicitKey) : undefined;
    const key = explicitKey ?? derivedJobKey(d, dest, storageClass);
    const existing = known ?? (await getJobByKey(db, key));
    const policyName = d.policy ?? DEFAULT_POLICY_NAME;
    let safety: Safety | null = null;
    if (known) {
      await check('same_plan_for_key', () =>
        this.checkSamePlan(known, key, d, dest, storageClass, actor, keyField, true),
      );
      safety = {
        requireApproval: known.require_approval === 1,
        retireSource: known.retire_source === 1,
        retireGraceS: known.retire_grace_s,
        fourEyes: known.four_eyes === 1,
        approvers: parseApprovers(known.approvers),
        retireLinkedFiles: known.retire_linked_files === 1,
      };
    } else {
      await check('policy_safety', async () => {
        const s = effectiveSafety(
          safetyPolicy(policyName, await getPolicy(db, policyName)),
          req,
          actor.role,
        );
        safety = s;
        return `policy "${policyName}": approval ${s.requireApproval ? 'needed' : 'not needed'}, source ${s.retireSource ? `retired after ${s.retireGraceS} s` : 'kept'}`;
      });
      await check('one_migration_at_a_time', () => this.busyWith(d, key));
    }
    if (!existing) {
      await check('destination_free_of_datasets', async () => {
        const other = await findOverlappingDataset(db, destKey);
        return other
          ? destinationTaken({ kind: 'overlaps_dataset', other }, dest, d.id)
          : undefined;
      });
      await check('destination_free_of_migrations', async () => {
        const job = await findOverlappingMigration(db, destKey);
        return job ? destinationTaken({ kind: 'overlaps_migration', job }, dest, d.id) : undefined;
      });
    }

    const targetTier = req.target_tier ?? (await this.inferTier(d, dest));
    const tiers = tierTable(await listTiers(db));
    const [inputs] = await placementInputs(db, { datasetId: d.id });
    const cost =
      tiers && targetTier && inputs
        ? planCost(inputs.signals, tiers, targetTier, Date.now(), undefined, inputs.forecast)
        : null;
    const s: Safety | null = safety;
    return {
      dry_run: true,
      ok: checks.every((c) => c.ok),
      dataset_id: d.id,
      source_uri: d.path_uri,
      target_location: dest,
      storage_class: storageClass,
      current_tier: d.current_tier,
      target_tier: targetTier,
      job_key: key,
      existing_job_id: existing?.job_id ?? null,
      objects: d.object_count,
      bytes: Number(d.size_bytes),
      cost,
      safety: s && {
        require_approval: s.requireApproval,
        retire_source: s.retireSource,
        retire_grace_s: s.retireGraceS,
        four_eyes: s.fourEyes,
        approvers: s.approvers,
      },
      checks,
    };
  }

  /** The dry run of applying a stored recommendation (`applyRecommendation` without the doing). */
  async dryRunRecommendation(
    recommendationId: number,
    opts: PlanOptions,
    actor: Actor,
  ): Promise<DryRun | null> {
    const { rec, d } = await this.recommendation(recommendationId);
    if (!d || keepsItWhereItIs(rec, d)) return null;
    // A target that is no valid destination now (roots or buckets changed): no plan to show.
    return this.dryRun(planOfRecommendation(rec, opts), actor).catch((err: unknown) => {
      if (err instanceof DimError && err.status < 500) return null;
      throw err;
    });
  }

  /** The dataset, the destination (normalized, with its key) and the key of a plan; 4xx on bad input. */
  private async resolve(req: PlanRequest, idempotencyKey: string | undefined) {
    const d = await getDataset(this.db, req.dataset_id);
    if (!d) {
      throw new DimError(
        'not_found',
        404,
        `body.dataset_id: dataset ${req.dataset_id} does not exist`,
        'body.dataset_id',
      );
    }
    const { uri: dest, key: destKey } = await this.deps.datasetLocation(
      req.target_location,
      'body.target_location',
    );
    const storageClass = normalizeStorageClass(dest, req.storage_class, 'body.storage_class');
    if (idempotencyKey !== undefined && !JOB_KEY_RE.test(idempotencyKey)) {
      throw Errors.invalid(
        'header.Idempotency-Key',
        'may hold 1 to 128 letters, digits, ".", "_", ":" and "-"',
      );
    }
    const keyField = req.job_key !== undefined ? 'body.job_key' : 'header.Idempotency-Key';
    return { d, dest, destKey, storageClass, keyField, explicitKey: req.job_key ?? idempotencyKey };
  }

  /**
   * One migration of a dataset at a time (another destination would race this one's
   * switch): the refusal when another job of the dataset (not `key`'s) has not ended.
   */
  private async busyWith(d: Dataset, key: string): Promise<DimError | undefined> {
    const busy = await this.db
      .selectFrom('migration_jobs')
      .select(['job_id', 'job_key', 'status', 'dest_uri'])
      .where('dataset_id', '=', d.id)
      .where('status', 'not in', [...TERMINAL_STATUSES])
      .executeTakeFirst();
    if (!busy || busy.job_key === key) return undefined;
    return datasetBusy(d.id, busy);
  }

  private async recommendation(
    id: number,
  ): Promise<{ rec: Recommendation; d: Dataset | undefined }> {
    const rec = await this.db
      .selectFrom('recommendations')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!rec) throw Errors.notFound('recommendation', id);
    return { rec, d: await getDataset(this.db, rec.dataset_id) };
  }

  private async load(jobId: string): Promise<MigrationJob> {
    const job = await getJob(this.db, jobId);
    if (!job) throw Errors.notFound('job', jobId);
    return job;
  }

  /**
   * A job_key names one plan. A key the caller chose (job_key, Idempotency-Key) is that
   * caller's: another caller sending it gets a 409, never the first caller's job. A derived
   * key names the same dataset version, place and class whoever plans it: one migration.
   */
  private checkSamePlan(
    job: MigrationJob,
    key: string,
    d: Dataset,
    dest: string,
    storageClass: string,
    actor: Actor,
    field: string,
    chosen: boolean,
  ): void {
    if (chosen && job.requested_by !== actor.name) {
      throw Errors.conflict(
        `job_key ${key} is taken by a migration another caller planned; use a new key`,
        field,
      );
    }
    if (
      job.dataset_id !== d.id ||
      job.dest_uri !== dest ||
      job.dest_storage_class !== storageClass
    ) {
      throw Errors.conflict(
        `job_key ${key} belongs to another migration (job ${job.job_id}: dataset ${job.dataset_id} to ${job.dest_uri}, ${job.dest_storage_class}); use a new key`,
        field,
      );
    }
  }

  private async ensureStarted(t: TemporalDeps, job: MigrationJob): Promise<MigrationJob> {
    return TERMINAL_STATUSES.includes(job.status) && job.status !== 'enqueue_failed'
      ? job
      : startWorkflow(this.db, t, job);
  }

  private async inferTier(d: Dataset, dest: string): Promise<Tier | null> {
    for (const t of await listTiers(this.db)) {
      if (resolveLocation(t.location_template, d) === dest) return t.name;
    }
    return null;
  }
}
