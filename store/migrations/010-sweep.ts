import type { MigrationDb } from '../db';

/**
 * The placement sweep (issue 10, items 3 and 4):
 *
 * - policies: the sweep's caps for datasets whose policy has `auto_apply`:
 *   `max_moves_per_sweep` (migrations one sweep may start, default 10) and
 *   `max_bytes_per_day` (bytes the sweep may start moving in any 24 hours, null: no cap).
 * - recommendation_heads.inputs_key: a digest of what the standing advice was last computed
 *   from (the dataset's row, its usage totals, its policy, the tier table, the model). A read
 *   of the recommendations recomputes only the datasets whose digest differs (reads are reads).
 * - leases: one named lease per singleton job (the sweep), taken with a conditional upsert
 *   and an expiry, so two sweeps never run at once across processes.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .alterTable('policies')
    .addColumn('max_moves_per_sweep', 'integer', (c) => c.notNull().defaultTo(10))
    .execute();
  await db.schema.alterTable('policies').addColumn('max_bytes_per_day', 'bigint').execute();
  await db.schema.alterTable('recommendation_heads').addColumn('inputs_key', 'text').execute();
  await db.schema
    .createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.dropTable('leases').execute();
  await db.schema.alterTable('recommendation_heads').dropColumn('inputs_key').execute();
  await db.schema.alterTable('policies').dropColumn('max_bytes_per_day').execute();
  await db.schema.alterTable('policies').dropColumn('max_moves_per_sweep').execute();
}
