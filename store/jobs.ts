import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import { lexicalLocationKey } from '../storage/location-key';
import type { Db } from './db';
import { isPostgres, serializable } from './dialect';
import { findOverlappingDataset, type OverlappingDataset } from './overlap';
import type { Database, JobStatus, MigrationJob, MigrationJobsTable, Tier } from './schema';

/**
 * Migration jobs and their manifests: the queries the API (planning, listing) and the
 * migration activities (status mirror, manifest, switch) share.
 */
export const TERMINAL_STATUSES: readonly JobStatus[] = [
  'completed',
  'failed',
  'cancelled',
  'enqueue_failed',
];

/** Statuses from which a cancel is still honoured (nothing switched yet). */
export const CANCELLABLE_STATUSES: readonly JobStatus[] = [
  'queued',
  'awaiting_approval',
  'copying',
  'verifying',
];

export type NewJob = Insertable<MigrationJobsTable>;

export interface JobProgress {
  bytes_done: number;
  bytes_total: number;
  objects_done: number;
  objects_total: number;
}

export async function getJob(db: Db, jobId: string): Promise<MigrationJob | undefined> {
  return db.selectFrom('migration_jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst();
}

export async function getJobByKey(db: Db, jobKey: string): Promise<MigrationJob | undefined> {
  return db
    .selectFrom('migration_jobs')
    .selectAll()
    .where('job_key', '=', jobKey)
    .executeTakeFirst();
}

export interface JobFilter {
  status?: JobStatus;
  datasetId?: number;
  /** Keyset cursor: rows strictly after (submitted_at desc, job_id desc). */
  after?: { submittedAt: number; jobId: string };
  limit: number;
}

/** Newest first. */
export async function listJobs(db: Db, f: JobFilter): Promise<MigrationJob[]> {
  let q = db
    .selectFrom('migration_jobs')
    .selectAll()
    .orderBy('submitted_at', 'desc')
    .orderBy('job_id', 'desc')
    .limit(f.limit);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.datasetId !== undefined) q = q.where('dataset_id', '=', f.datasetId);
  const after = f.after;
  if (after) {
    q = q.where((eb) =>
      eb.or([
        eb('submitted_at', '<', after.submittedAt),
        eb.and([eb('submitted_at', '=', after.submittedAt), eb('job_id', '<', after.jobId)]),
      ]),
    );
  }
  return q.execute();
}

export interface StatusUpdate {
  status: JobStatus;
  /** null clears a previous error; undefined leaves it. */
  error?: string | null;
  progress?: Partial<JobProgress>;
  runId?: string;
}

export async function updateJob(db: Db, jobId: string, u: StatusUpdate): Promise<MigrationJob> {
  const row = await db
    .updateTable('migration_jobs')
    .set({
      status: u.status,
      ...(u.error !== undefined ? { error: u.error } : {}),
      ...(u.progress ?? {}),
      ...(u.runId ? { run_id: u.runId } : {}),
      updated_at: Date.now(),
    })
    .where('job_id', '=', jobId)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new Error(`migration job ${jobId} does not exist`);
  return row;
}

export type JobActor = 'approved_by' | 'cancelled_by' | 'retired_by';

const ACTOR_ACTIONS: Record<JobActor, string> = {
  approved_by: 'job.approved',
  cancelled_by: 'job.cancelled',
  retired_by: 'job.retired',
};

/**
 * Records who approved, cancelled and retired a job, each once (the first name the workflow
 * reported stays), with an audit_log row for each one recorded now: the audit trail holds
 * these acts even when the signal came straight through Temporal instead of the API.
 */
export async function recordJobActors(
  db: Db,
  jobId: string,
  actors: Partial<Record<JobActor, string | null>>,
  now = Date.now(),
): Promise<JobActor[]> {
  const recorded: JobActor[] = [];
  for (const [col, by] of Object.entries(actors) as [JobActor, string | null | undefined][]) {
    if (!by) continue;
    await db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('migration_jobs')
        .set({ [col]: by })
        .where('job_id', '=', jobId)
        .where(col, 'is', null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return;
      await trx
        .insertInto('audit_log')
        .values({
          ts: now,
          actor: by,
          action: ACTOR_ACTIONS[col],
          target: `job:${jobId}`,
          details: '{}',
        })
        .execute();
      recorded.push(col);
    });
  }
  return recorded;
}

/**
 * A run that a reset in Temporal made (Web UI, `temporal workflow reset`) reports its first
 * status: the row takes its run id, loses the old run's error and canceller, and the audit
 * log records the reset, all once per run. false when the row already has this run.
 */
export async function startResetRun(
  db: Db,
  jobId: string,
  runId: string,
  now = Date.now(),
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const job = await trx
      .selectFrom('migration_jobs')
      .select(['run_id', 'status', 'error'])
      .where('job_id', '=', jobId)
      .executeTakeFirst();
    if (!job || job.run_id === runId) return false;
    const res = await trx
      .updateTable('migration_jobs')
      .set({ run_id: runId, error: null, cancelled_by: null, updated_at: now })
      .where('job_id', '=', jobId)
      .where('run_id', job.run_id === null ? 'is' : '=', job.run_id)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return false;
    await trx
      .insertInto('audit_log')
      .values({
        ts: now,
        actor: 'temporal',
        action: 'job.reset',
        target: `job:${jobId}`,
        details: JSON.stringify({
          from_run_id: job.run_id,
          run_id: runId,
          previous_status: job.status,
          previous_error: job.error,
        }),
      })
      .execute();
    return true;
  });
}

/** Jobs whose mirror says they have not ended, least recently updated first. */
export async function listUnfinishedJobs(db: Db, limit: number): Promise<MigrationJob[]> {
  return db
    .selectFrom('migration_jobs')
    .selectAll()
    .where('status', 'not in', [...TERMINAL_STATUSES])
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

export interface EndedInTemporal {
  status: JobStatus;
  error: string;
  /** The run Temporal closed. */
  runId: string;
  /** Who ended it (Temporal's identity of the caller); the canceller of a cancelled job if none is. */
  by: string;
  action: string;
  details: Record<string, unknown>;
}

/**
 * Ends a job whose run Temporal closed without the workflow recording it (terminate,
 * timeout), with its audit row, in one transaction. Only if the row still has the run id
 * `seenRunId` and has not ended: a reset that started a new run meanwhile wins.
 */
export async function endJobFromTemporal(
  db: Db,
  jobId: string,
  seenRunId: string | null,
  e: EndedInTemporal,
  now = Date.now(),
): Promise<MigrationJob | undefined> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('migration_jobs')
      .set((eb) => ({
        status: e.status,
        error: e.error,
        run_id: e.runId,
        ...(e.status === 'cancelled'
          ? { cancelled_by: eb.fn.coalesce('cancelled_by', eb.val(e.by)) }
          : {}),
        updated_at: now,
      }))
      .where('job_id', '=', jobId)
      .where('run_id', seenRunId === null ? 'is' : '=', seenRunId)
      .where('status', 'not in', [...TERMINAL_STATUSES])
      .returningAll()
      .executeTakeFirst();
    if (!row) return undefined;
    await trx
      .insertInto('audit_log')
      .values({
        ts: now,
        actor: e.by,
        action: e.action,
        target: `job:${jobId}`,
        details: JSON.stringify(e.details),
      })
      .execute();
    return row;
  });
}

/** Progress only (the copy reports it while it runs); never touches the status. */
export async function updateJobProgress(db: Db, jobId: string, p: JobProgress): Promise<void> {
  await db
    .updateTable('migration_jobs')
    .set({ ...p, updated_at: Date.now() })
    .where('job_id', '=', jobId)
    .execute();
}

/**
 * Records the copy's current rate (null: it stopped copying) and answers the job's bandwidth
 * limit as it stands now (undefined: no such job). One statement: the copy calls it every second.
 */
export async function recordCopyRate(
  db: Db,
  jobId: string,
  bytesPerS: number | null,
): Promise<{ max_bytes_per_s: number | null } | undefined> {
  const row = await db
    .updateTable('migration_jobs')
    .set({ bytes_per_s: bytesPerS === null ? null : Math.round(bytesPerS) })
    .where('job_id', '=', jobId)
    .returning('max_bytes_per_s')
    .executeTakeFirst();
  return (
    row && { max_bytes_per_s: row.max_bytes_per_s === null ? null : Number(row.max_bytes_per_s) }
  );
}

/** Sets a job's bandwidth limit (null: none); a running copy picks it up within a second. */
export async function setJobBandwidth(
  db: Db,
  jobId: string,
  maxBytesPerS: number | null,
): Promise<MigrationJob | undefined> {
  return db
    .updateTable('migration_jobs')
    .set({ max_bytes_per_s: maxBytesPerS, updated_at: Date.now() })
    .where('job_id', '=', jobId)
    .returningAll()
    .executeTakeFirst();
}

// ---------------------------------------------------------------------------------------
// the manifest (migration_objects)

/** pending: listed, not yet written · copied: written, hash known · verified: re-read and matched. */
export type ObjectState = 'pending' | 'copied' | 'verified';

export interface ManifestRow {
  key: string;
  size: number;
  sha256: string | null;
  state: ObjectState;
  /** The source object's identity as the copy listed it (JSON, storage/identity.ts). */
  source_identity?: string | null;
  /** The algorithm of `sha256` (the content hash): 'sha256' or 'blake3'; null or absent: sha256. */
  hash_algorithm?: string | null;
}

export async function loadManifest(db: Db, jobId: string): Promise<Map<string, ManifestRow>> {
  const rows = await db
    .selectFrom('migration_objects')
    .select(['key', 'size', 'sha256', 'state', 'source_identity', 'hash_algorithm'])
    .where('job_id', '=', jobId)
    .execute();
  return new Map(
    rows.map((r) => [
      r.key,
      {
        key: r.key,
        size: Number(r.size),
        sha256: r.sha256,
        state: r.state as ObjectState,
        source_identity: r.source_identity,
        hash_algorithm: r.hash_algorithm,
      },
    ]),
  );
}

const CHUNK = 200; // rows per statement: far below SQLite's 32766 bound parameters

/** Writes manifest rows (insert or replace), in one transaction. */
export async function putManifestRows(db: Db, jobId: string, rows: ManifestRow[]): Promise<void> {
  if (rows.length === 0) return;
  const t = Date.now();
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += CHUNK) {
      await trx
        .insertInto('migration_objects')
        .values(
          rows.slice(i, i + CHUNK).map((r) => ({
            job_id: jobId,
            key: r.key,
            size: r.size,
            sha256: r.sha256,
            state: r.state,
            source_identity: r.source_identity ?? null,
            hash_algorithm: r.hash_algorithm ?? null,
            updated_at: t,
          })),
        )
        .onConflict((oc) =>
          oc.columns(['job_id', 'key']).doUpdateSet((eb) => ({
            size: eb.ref('excluded.size'),
            sha256: eb.ref('excluded.sha256'),
            state: eb.ref('excluded.state'),
            source_identity: eb.ref('excluded.source_identity'),
            hash_algorithm: eb.ref('excluded.hash_algorithm'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    }
  });
}

export async function deleteManifest(db: Db, jobId: string): Promise<void> {
  await db.deleteFrom('migration_objects').where('job_id', '=', jobId).execute();
}

/** Removes some rows of a manifest (objects that vanished at the source during the copy). */
export async function deleteManifestRows(db: Db, jobId: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += CHUNK) {
    await db
      .deleteFrom('migration_objects')
      .where('job_id', '=', jobId)
      .where('key', 'in', keys.slice(i, i + CHUNK))
      .execute();
  }
}

/** Records the source root's real path (file://) as the copy listed it. */
export async function setSourceRealPath(db: Db, jobId: string, real: string): Promise<void> {
  await db
    .updateTable('migration_jobs')
    .set({ source_real_path: real })
    .where('job_id', '=', jobId)
    .execute();
}

// ---------------------------------------------------------------------------------------
// the switch (invariants 1 and 2)

/**
 * Runs `fn` in a write transaction that takes SQLite's write lock up front (BEGIN
 * IMMEDIATE), so a read-then-write cannot fail on a concurrent writer half-way. Another
 * process (API, bridge) may hold the lock briefly: busy_timeout waits for it. On
 * PostgreSQL: a serializable transaction, run again when it loses a race with another
 * (store/dialect.ts), so `fn` must have no effect outside the database.
 */
export async function writeTransaction<T>(
  db: Db,
  fn: (trx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  if (isPostgres(db)) return serializable(db, fn);
  return db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      // `conn` runs every query on the one connection that began the transaction.
      const result = await fn(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
}

export type SwitchOutcome =
  | { kind: 'switched'; version: number; objects: number; bytes: number; at: number }
  | { kind: 'already'; version: number; objects: number; bytes: number; at: number }
  | { kind: 'dataset_moved'; current: string }
  | { kind: 'dataset_gone' }
  | { kind: 'not_verified'; unverified: number }
  /** The destination overlaps another dataset's location (invariant 9): nothing changed. */
  | { kind: 'dest_overlaps'; other: OverlappingDataset }
  | { kind: 'job_gone' };

/**
 * The switch: one transaction moves the dataset's pointer, tier, version, size and
 * replicas to the destination. Readers see the old location or the new, never a mix.
 * Idempotent by job_id: a second call finds the destination primary for this job and
 * changes nothing.
 */
export async function switchDataset(
  db: Db,
  jobId: string,
  now = Date.now(),
): Promise<SwitchOutcome> {
  return writeTransaction(db, async (trx) => {
    const job = await trx
      .selectFrom('migration_jobs')
      .selectAll()
      .where('job_id', '=', jobId)
      .executeTakeFirst();
    if (!job) return { kind: 'job_gone' };
    const ds = await trx
      .selectFrom('datasets')
      .selectAll()
      .where('id', '=', job.dataset_id)
      .executeTakeFirst();
    if (!ds) return { kind: 'dataset_gone' };
    const totals = await trx
      .selectFrom('migration_objects')
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn.coalesce(eb.fn.sum<number>('size'), sql<number>`0`).as('bytes'),
        eb.fn.sum<number>(sql`case when state = 'verified' then 0 else 1 end`).as('unverified'),
      ])
      .where('job_id', '=', jobId)
      .executeTakeFirstOrThrow();
    const objects = Number(totals.n);
    const bytes = Number(totals.bytes);
    const mine = await trx
      .selectFrom('replicas')
      .select(['role', 'job_id', 'updated_at'])
      .where('dataset_id', '=', ds.id)
      .where('uri', '=', job.dest_uri)
      .executeTakeFirst();
    if (ds.path_uri === job.dest_uri && mine?.job_id === jobId && mine.role === 'primary') {
      return { kind: 'already', version: ds.version, objects, bytes, at: mine.updated_at };
    }
    if (ds.path_uri !== job.source_uri) return { kind: 'dataset_moved', current: ds.path_uri };
    const unverified = Number(totals.unverified ?? 0);
    if (unverified > 0) return { kind: 'not_verified', unverified };
    // The dataset takes the destination's key; refused if another dataset got there meanwhile.
    const destKey = job.dest_key ?? lexicalLocationKey(job.dest_uri);
    const other = await findOverlappingDataset(trx, destKey, { exceptDatasetId: ds.id });
    if (other) return { kind: 'dest_overlaps', other };

    const tier: Tier = job.target_tier ?? ds.current_tier;
    await trx
      .updateTable('datasets')
      .set({
        path_uri: job.dest_uri,
        location_key: destKey,
        current_tier: tier,
        version: ds.version + 1,
        tier_since: now,
        size_bytes: bytes,
        object_count: objects,
        updated_at: now,
      })
      .where('id', '=', ds.id)
      .execute();
    // Every other copy of the dataset stops being primary; the source becomes stale
    // (retire marks it retired once its objects are deleted).
    await trx
      .updateTable('replicas')
      .set({ role: 'stale', updated_at: now })
      .where('dataset_id', '=', ds.id)
      .where('role', '=', 'primary')
      .execute();
    await trx
      .insertInto('replicas')
      .values({
        dataset_id: ds.id,
        uri: job.source_uri,
        storage_class: 'unknown',
        tier: ds.current_tier,
        role: 'stale',
        job_id: null,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.columns(['dataset_id', 'uri']).doUpdateSet({ role: 'stale', updated_at: now }),
      )
      .execute();
    await trx
      .insertInto('replicas')
      .values({
        dataset_id: ds.id,
        uri: job.dest_uri,
        storage_class: job.dest_storage_class,
        tier,
        role: 'primary',
        job_id: jobId,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.columns(['dataset_id', 'uri']).doUpdateSet({
          role: 'primary',
          storage_class: job.dest_storage_class,
          tier,
          job_id: jobId,
          updated_at: now,
        }),
      )
      .execute();
    return { kind: 'switched', version: ds.version + 1, objects, bytes, at: now };
  });
}

/** Whether this job's switch has committed (the dataset points at its destination). */
export async function isSwitched(db: Db, jobId: string): Promise<boolean> {
  const row = await db
    .selectFrom('replicas')
    .innerJoin('datasets', 'datasets.id', 'replicas.dataset_id')
    .select(['replicas.role', 'datasets.path_uri', 'replicas.uri'])
    .where('replicas.job_id', '=', jobId)
    .executeTakeFirst();
  return !!row && row.role === 'primary' && row.path_uri === row.uri;
}

export async function markSourceRetired(
  db: Db,
  datasetId: number,
  sourceUri: string,
): Promise<void> {
  await db
    .updateTable('replicas')
    .set({ role: 'retired', updated_at: Date.now() })
    .where('dataset_id', '=', datasetId)
    .where('uri', '=', sourceUri)
    .where('role', '!=', 'primary')
    .execute();
}

export type JobRow = Selectable<MigrationJobsTable>;
