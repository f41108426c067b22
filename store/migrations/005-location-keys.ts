import { lexicalLocationKey } from '../../storage/location-key';
import type { MigrationDb } from '../db';

/**
 * Canonical location keys (storage/location-key.ts), so the store can refuse overlapping
 * datasets in SQL (invariant 9): `datasets.location_key` (UNIQUE), and on each migration
 * job the keys of its source and destination, which it owns until it ends.
 *
 * Existing rows are backfilled lexically (`..` and `//` removed, symlinks NOT resolved: a
 * migration has no file roots). Keys written afterwards by the API and the switch are real
 * paths. If two existing datasets already had the very same location, the one with the
 * lowest id keeps the key and the others get NULL (the UNIQUE index could not be built
 * otherwise); the kept key still stands for that location, and each such row is listed in
 * the audit log (action `migration 005: overlapping dataset`) for an operator to resolve.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('datasets').addColumn('location_key', 'text').execute();
  await db.schema.alterTable('migration_jobs').addColumn('source_key', 'text').execute();
  await db.schema.alterTable('migration_jobs').addColumn('dest_key', 'text').execute();

  const keyOf = (uri: string): string | null => {
    try {
      return lexicalLocationKey(uri);
    } catch {
      return null; // not a valid URI (never accepted by the API): no key, nothing to compare
    }
  };
  const datasets = (await db
    .selectFrom('datasets')
    .select(['id', 'name', 'path_uri'])
    .orderBy('id')
    .execute()) as { id: number; name: string; path_uri: string }[];
  const owner = new Map<string, number>();
  for (const d of datasets) {
    const key = keyOf(d.path_uri);
    if (key === null) continue;
    const first = owner.get(key);
    if (first !== undefined) {
      await db
        .insertInto('audit_log')
        .values({
          ts: Date.now(),
          actor: 'dim',
          action: 'migration 005: overlapping dataset',
          target: `/datasets/${d.id}`,
          details: JSON.stringify({
            dataset_id: d.id,
            name: d.name,
            path_uri: d.path_uri,
            same_location_as: first,
          }),
        })
        .execute();
      continue;
    }
    owner.set(key, d.id);
    await db.updateTable('datasets').set({ location_key: key }).where('id', '=', d.id).execute();
  }

  const jobs = (await db
    .selectFrom('migration_jobs')
    .select(['job_id', 'source_uri', 'dest_uri'])
    .execute()) as { job_id: string; source_uri: string; dest_uri: string }[];
  for (const j of jobs) {
    await db
      .updateTable('migration_jobs')
      .set({ source_key: keyOf(j.source_uri), dest_key: keyOf(j.dest_uri) })
      .where('job_id', '=', j.job_id)
      .execute();
  }

  // The backstop: two rows can never hold one key, whatever a caller forgets to check.
  await db.schema
    .createIndex('datasets_location_key')
    .unique()
    .on('datasets')
    .column('location_key')
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.dropIndex('datasets_location_key').ifExists().execute();
  await db.schema.alterTable('migration_jobs').dropColumn('dest_key').execute();
  await db.schema.alterTable('migration_jobs').dropColumn('source_key').execute();
  await db.schema.alterTable('datasets').dropColumn('location_key').execute();
}
