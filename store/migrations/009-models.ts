import type { MigrationDb } from '../db';

/**
 * Trained usage models (issue 10, item 2; placement/forecast.ts):
 *
 * - `models`: one row per training: the version, the training window, the parameters and
 *   the accuracy on the held-out later window (the model's and the naive last-value
 *   forecast's), as JSON texts. Kept for good (a few hundred bytes each).
 * - `model_forecasts`: per (model version, dataset) the forecast the decisions use, as
 *   four numbers. At 100,000 datasets one JSON of states in `models` would be tens of
 *   megabytes to parse on every recommendation pass; four columns read by primary key
 *   cost nothing. Only the latest few models keep theirs (store/models.ts).
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createTable('models')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('version', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('window_from', 'bigint', (c) => c.notNull())
    .addColumn('window_to', 'bigint', (c) => c.notNull())
    .addColumn('holdout_from', 'bigint', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('accuracy', 'text', (c) => c.notNull())
    .addColumn('datasets', 'integer', (c) => c.notNull())
    .addColumn('buckets', 'integer', (c) => c.notNull())
    .addColumn('train_ms', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('model_forecasts')
    .addColumn('model_id', 'integer', (c) =>
      c.notNull().references('models.id').onDelete('cascade'),
    )
    .addColumn('dataset_id', 'integer', (c) =>
      c.notNull().references('datasets.id').onDelete('cascade'),
    )
    .addColumn('reads_per_hour', 'real', (c) => c.notNull())
    .addColumn('read_bytes_per_hour', 'real', (c) => c.notNull())
    .addColumn('writes_per_hour', 'real', (c) => c.notNull())
    .addColumn('p_access', 'real', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_forecasts_pk', ['model_id', 'dataset_id'])
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.dropTable('model_forecasts').ifExists().execute();
  await db.schema.dropTable('models').ifExists().execute();
}
