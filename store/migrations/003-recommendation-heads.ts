import { sql } from 'kysely';
import type { MigrationDb } from '../db';

/**
 * Each dataset's standing recommendation: its id and the advice it gives (the columns a
 * placement pass compares its fresh choice with), one row per dataset, so a pass over every
 * dataset joins it by primary key instead of finding each dataset's latest row among the
 * wide `recommendations` rows (about half the cost of a pass at 100,000 datasets). Written
 * only by store/recommendations.ts, in the transaction that inserts the recommendation.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createTable('recommendation_heads')
    .addColumn('dataset_id', 'integer', (c) =>
      c.primaryKey().references('datasets.id').onDelete('cascade'),
    )
    // No foreign key: recommendations go only with their dataset, which takes this row too.
    .addColumn('recommendation_id', 'integer', (c) => c.notNull())
    .addColumn('current_tier', 'text', (c) => c.notNull())
    .addColumn('recommended_tier', 'text', (c) => c.notNull())
    .addColumn('target_location', 'text', (c) => c.notNull())
    .addColumn('storage_class', 'text', (c) => c.notNull())
    .addColumn('model_version', 'text', (c) => c.notNull())
    .execute();
  await sql`
    insert into recommendation_heads (dataset_id, recommendation_id, current_tier,
      recommended_tier, target_location, storage_class, model_version)
    select r.dataset_id, r.id, r.current_tier, r.recommended_tier, r.target_location,
      r.storage_class, r.model_version
    from recommendations r
    where r.id = (select max(m.id) from recommendations m where m.dataset_id = r.dataset_id)
  `.execute(db);
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.dropTable('recommendation_heads').ifExists().execute();
}
