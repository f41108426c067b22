import type { MigrationDb } from '../db';

/**
 * Retire deletes only what the copy read (issue 9, invariant 3):
 * - `migration_objects.source_identity`: the source object's identity as of the copy's
 *   listing (JSON, storage/identity.ts: file size + mtime/ctime ns + dev + inode, S3 ETag
 *   and version, GCS generation); null on rows written before this migration, which
 *   retire then never deletes (their identity cannot be proven).
 * - `migration_jobs.source_real_path`: the source root's real path (file://) at copy time;
 *   retire deletes nothing if the root resolves elsewhere by then.
 * - `policies.retire_linked_files`: 1 lets retire unlink a source file with other hard
 *   links (its data lives on under the other names); default 0 keeps such files.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('migration_objects').addColumn('source_identity', 'text').execute();
  await db.schema.alterTable('migration_jobs').addColumn('source_real_path', 'text').execute();
  await db.schema
    .alterTable('policies')
    .addColumn('retire_linked_files', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('policies').dropColumn('retire_linked_files').execute();
  await db.schema.alterTable('migration_jobs').dropColumn('source_real_path').execute();
  await db.schema.alterTable('migration_objects').dropColumn('source_identity').execute();
}
