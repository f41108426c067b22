import type { MigrationDb } from '../db';

/**
 * Bandwidth control (issue 12, item 5):
 *
 * - policies.max_bytes_per_s: the default bandwidth limit of the migrations of the policy's
 *   datasets, in bytes per second; null: no limit.
 * - migration_jobs.max_bytes_per_s: the job's own limit (the plan's, else its policy's when
 *   planned; changed while it runs by POST /jobs/{id}/bandwidth); null: no limit. The
 *   worker's DIM_COPY_MAX_BYTES_PER_S caps it: the copy runs at the lower of the two.
 * - migration_jobs.bytes_per_s: the copy's current rate (bytes per second over the last few
 *   seconds) while it copies; null otherwise.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('policies').addColumn('max_bytes_per_s', 'bigint').execute();
  await db.schema.alterTable('migration_jobs').addColumn('max_bytes_per_s', 'bigint').execute();
  await db.schema.alterTable('migration_jobs').addColumn('bytes_per_s', 'bigint').execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('migration_jobs').dropColumn('bytes_per_s').execute();
  await db.schema.alterTable('migration_jobs').dropColumn('max_bytes_per_s').execute();
  await db.schema.alterTable('policies').dropColumn('max_bytes_per_s').execute();
}
