import {
  ancestorKeys,
  descendantsEnd,
  lexicalLocationKey,
  overlapRelation,
  type OverlapRelation,
} from '../storage/location-key';
import type { Db } from './db';
import { TERMINAL_STATUSES, writeTransaction, type NewJob } from './jobs';
import type { Dataset, JobStatus, MigrationJob, NewDataset } from './schema';

/**
 * Invariant 9 in the store: no dataset's location equals, contains or lies inside another's,
 * and no migration writes into a dataset's location. Locations are compared by their
 * canonical keys (storage/location-key.ts); each check and the write it guards run in one
 * transaction that holds SQLite's write lock from its first read (`writeTransaction`), so
 * two concurrent registrations cannot both pass; the UNIQUE indexes on `datasets.name` and
 * `datasets.location_key` are the backstop.
 */

export interface OverlappingDataset {
  id: number;
  name: string;
  path_uri: string;
  location_key: string;
  /** How the key asked about relates to this dataset's location. */
  relation: OverlapRelation;
}

/**
 * A dataset whose location equals, contains or lies inside `locationKey`, or undefined.
 * Two index lookups: the key's ancestors (itself included) and the range of its descendants.
 */
export async function findOverlappingDataset(
  db: Db,
  locationKey: string,
  opts: { exceptDatasetId?: number } = {},
): Promise<OverlappingDataset | undefined> {
  let q = db
    .selectFrom('datasets')
    .select(['id', 'name', 'path_uri', 'location_key'])
    .where((eb) =>
      eb.or([
        eb('location_key', 'in', ancestorKeys(locationKey)),
        eb.and([
          eb('location_key', '>=', locationKey),
          eb('location_key', '<', descendantsEnd(locationKey)),
        ]),
      ]),
    )
    .orderBy('id')
    .limit(1);
  if (opts.exceptDatasetId !== undefined) q = q.where('id', '!=', opts.exceptDatasetId);
  const row = await q.executeTakeFirst();
  if (!row || row.location_key === null) return undefined;
  const relation = overlapRelation(locationKey, row.location_key)!;
  return { ...row, location_key: row.location_key, relation };
}

export interface OverlappingMigration {
  job_id: string;
  dataset_id: number;
  status: JobStatus;
  /** Which of the job's locations overlaps: its destination, or its source (kept until retired). */
  end: 'dest' | 'source';
  uri: string;
  relation: OverlapRelation;
}

/**
 * A migration that has not ended whose destination (or source: retire may still delete
 * there) equals, contains or lies inside `locationKey`. Unfinished jobs are few, so they are
 * compared here; a job without keys (planned before migration 005) is keyed lexically.
 */
export async function findOverlappingMigration(
  db: Db,
  locationKey: string,
  opts: { exceptDatasetId?: number; exceptJobKey?: string } = {},
): Promise<OverlappingMigration | undefined> {
  let q = db
    .selectFrom('migration_jobs')
    .select(['job_id', 'job_key', 'dataset_id', 'status', 'source_uri', 'dest_uri'])
    .select(['source_key', 'dest_key'])
    .where('status', 'not in', [...TERMINAL_STATUSES])
    .orderBy('submitted_at');
  if (opts.exceptDatasetId !== undefined) q = q.where('dataset_id', '!=', opts.exceptDatasetId);
  if (opts.exceptJobKey !== undefined) q = q.where('job_key', '!=', opts.exceptJobKey);
  for (const j of await q.execute()) {
    const ends = [
      { end: 'dest' as const, uri: j.dest_uri, key: j.dest_key },
      { end: 'source' as const, uri: j.source_uri, key: j.source_key },
    ];
    for (const e of ends) {
      const relation = overlapRelation(locationKey, e.key ?? keyOrNull(e.uri) ?? '\0');
      if (relation) {
        return {
          job_id: j.job_id,
          dataset_id: j.dataset_id,
          status: j.status,
          end: e.end,
          uri: e.uri,
          relation,
        };
      }
    }
  }
  return undefined;
}

function keyOrNull(uri: string): string | null {
  try {
    return lexicalLocationKey(uri);
  } catch {
    return null;
  }
}

/** The unique column a constraint error names (`datasets.name`), or undefined. */
export function uniqueViolation(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code !== 'string' || !e.code.startsWith('SQLITE_CONSTRAINT')) return undefined;
  const m = /UNIQUE constraint failed: ([\w.]+)/.exec(String(e.message));
  return m?.[1];
}

export type RegisterOutcome =
  | { kind: 'created'; dataset: Dataset }
  | { kind: 'name_taken'; other: { id: number; name: string } }
  | { kind: 'overlaps_dataset'; other: OverlappingDataset }
  | { kind: 'overlaps_migration'; job: OverlappingMigration };

/**
 * Registers a dataset unless its name is taken or its location overlaps another dataset's
 * or an unfinished migration's: check and insert in one write transaction.
 */
export async function registerDataset(
  db: Db,
  row: NewDataset & { location_key: string },
): Promise<RegisterOutcome> {
  return writeTransaction(db, async (trx) => {
    const named = await trx
      .selectFrom('datasets')
      .select(['id', 'name'])
      .where('name', '=', row.name)
      .executeTakeFirst();
    if (named) return { kind: 'name_taken', other: named };
    const other = await findOverlappingDataset(trx, row.location_key);
    if (other) return { kind: 'overlaps_dataset', other };
    const job = await findOverlappingMigration(trx, row.location_key);
    if (job) return { kind: 'overlaps_migration', job };
    const dataset = await trx
      .insertInto('datasets')
      .values(row)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { kind: 'created', dataset };
  });
}

export type PlanOutcome =
  | { kind: 'created'; job: MigrationJob }
  | { kind: 'exists'; job: MigrationJob }
  | { kind: 'overlaps_dataset'; other: OverlappingDataset }
  | { kind: 'overlaps_migration'; job: OverlappingMigration }
  | { kind: 'dataset_busy'; job: Pick<MigrationJob, 'job_id' | 'status' | 'dest_uri'> };

/**
 * For the migration service: inserts a job unless one with its job_key exists (then that
 * one is returned, invariant 4), its dataset has another unfinished migration (one at a
 * time: two would race each other's switch), or its destination equals, contains or lies
 * inside any dataset's location (its own dataset's too) or another unfinished migration's.
 * `dest_key` is `locationKey(dest_uri, fileRoots)`; the source key is taken from the dataset.
 * One write transaction, so a dataset registered at the same moment cannot slip in between.
 */
export async function insertJobIfFree(
  db: Db,
  row: NewJob & { dest_key: string },
): Promise<PlanOutcome> {
  return writeTransaction(db, async (trx) => {
    const known = await trx
      .selectFrom('migration_jobs')
      .selectAll()
      .where('job_key', '=', row.job_key)
      .executeTakeFirst();
    if (known) return { kind: 'exists', job: known };
    const busy = await trx
      .selectFrom('migration_jobs')
      .select(['job_id', 'status', 'dest_uri'])
      .where('dataset_id', '=', row.dataset_id)
      .where('status', 'not in', [...TERMINAL_STATUSES])
      .executeTakeFirst();
    if (busy) return { kind: 'dataset_busy', job: busy };
    const other = await findOverlappingDataset(trx, row.dest_key);
    if (other) return { kind: 'overlaps_dataset', other };
    const job = await findOverlappingMigration(trx, row.dest_key);
    if (job) return { kind: 'overlaps_migration', job };
    const ds = await trx
      .selectFrom('datasets')
      .select(['location_key', 'path_uri'])
      .where('id', '=', row.dataset_id)
      .executeTakeFirst();
    const created = await trx
      .insertInto('migration_jobs')
      .values({
        ...row,
        source_key: row.source_key ?? ds?.location_key ?? keyOrNull(row.source_uri),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { kind: 'created', job: created };
  });
}
