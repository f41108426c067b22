import type { CreateTableBuilder } from 'kysely';
import type { MigrationDb } from '../db';

/**
 * The first schema. Written with Kysely's schema builder so the same migration runs on
 * SQLite now and PostgreSQL later. Never edit a released migration: add the next one.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createTable('policies')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('latency_slo_ms', 'real')
    .addColumn('pinned_tier', 'text')
    .addColumn('cost_target_usd_month', 'real')
    .addColumn('min_residency_s', 'integer', (c) => c.notNull().defaultTo(3600))
    .addColumn('hot_max_age_s', 'integer', (c) => c.notNull().defaultTo(60))
    .addColumn('warm_max_age_s', 'integer', (c) => c.notNull().defaultTo(600))
    .addColumn('require_approval', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retire_source', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retire_grace_s', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('auto_apply', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('tiers')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('location_template', 'text', (c) => c.notNull())
    .addColumn('storage_class', 'text', (c) => c.notNull())
    .addColumn('read_latency_ms', 'real', (c) => c.notNull())
    .addColumn('price_gb_month', 'real', (c) => c.notNull())
    .addColumn('price_retrieval_gb', 'real', (c) => c.notNull().defaultTo(0))
    .addColumn('price_per_1k_requests', 'real', (c) => c.notNull().defaultTo(0))
    .addColumn('min_storage_days', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('egress_gb', 'real', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('datasets')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('path_uri', 'text', (c) => c.notNull())
    .addColumn('current_tier', 'text', (c) => c.notNull().defaultTo('hot'))
    .addColumn('latency_slo_ms', 'real')
    .addColumn('size_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('object_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('owner', 'text')
    .addColumn('policy', 'text', (c) => c.references('policies.name').onDelete('restrict'))
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('last_access_ts', 'bigint')
    .addColumn('tier_since', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('datasets_tier')
    .on('datasets')
    .columns(['current_tier', 'id'])
    .execute();
  await db.schema.createIndex('datasets_owner').on('datasets').columns(['owner', 'id']).execute();

  const counters = (t: CreateTableBuilder<string, string>): CreateTableBuilder<string, string> =>
    t
      .addColumn('read_count', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('write_count', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('bytes_read', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('bytes_written', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('lat_sum_ms', 'real', (c) => c.notNull().defaultTo(0))
      .addColumn('lat_count', 'bigint', (c) => c.notNull().defaultTo(0));

  await counters(
    db.schema
      .createTable('access_totals')
      .addColumn('dataset_id', 'integer', (c) =>
        c.primaryKey().references('datasets.id').onDelete('cascade'),
      ),
  )
    .addColumn('last_access_ts', 'bigint')
    .execute();

  await counters(
    db.schema
      .createTable('access_aggregates')
      .addColumn('dataset_id', 'integer', (c) =>
        c.notNull().references('datasets.id').onDelete('cascade'),
      )
      .addColumn('hour', 'bigint', (c) => c.notNull()),
  )
    .addPrimaryKeyConstraint('access_aggregates_pk', ['dataset_id', 'hour'])
    .execute();

  await db.schema
    .createTable('recommendations')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('dataset_id', 'integer', (c) =>
      c.notNull().references('datasets.id').onDelete('cascade'),
    )
    .addColumn('current_tier', 'text', (c) => c.notNull())
    .addColumn('recommended_tier', 'text', (c) => c.notNull())
    .addColumn('target_location', 'text', (c) => c.notNull())
    .addColumn('storage_class', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('inputs', 'text', (c) => c.notNull())
    .addColumn('model_version', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('recommendations_dataset')
    .on('recommendations')
    .columns(['dataset_id', 'id'])
    .execute();

  await db.schema
    .createTable('consumer_offsets')
    .addColumn('consumer', 'text', (c) => c.notNull())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('partition', 'integer', (c) => c.notNull())
    .addColumn('next_offset', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('consumer_offsets_pk', ['consumer', 'topic', 'partition'])
    .execute();

  for (const table of ['event_log', 'event_outbox']) {
    await db.schema
      .createTable(table)
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('topic', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('ts', 'bigint', (c) => c.notNull())
      .execute();
  }
  await db.schema
    .createIndex('event_log_topic')
    .on('event_log')
    .columns(['topic', 'seq'])
    .execute();

  await db.schema
    .createTable('dead_letters')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('partition', 'integer')
    .addColumn('offset', 'text')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('error', 'text', (c) => c.notNull())
    .addColumn('ts', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('ts', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('idempotency_keys')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'integer')
    .addColumn('body', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['key', 'method', 'path'])
    .execute();

  await db.schema
    .createTable('migration_jobs')
    .addColumn('job_id', 'text', (c) => c.primaryKey())
    .addColumn('job_key', 'text', (c) => c.notNull().unique())
    .addColumn('dataset_id', 'integer', (c) => c.notNull().references('datasets.id'))
    .addColumn('source_uri', 'text', (c) => c.notNull())
    .addColumn('dest_uri', 'text', (c) => c.notNull())
    .addColumn('dest_storage_class', 'text', (c) => c.notNull())
    .addColumn('target_tier', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('bytes_done', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_total', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('objects_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('objects_total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text')
    .addColumn('recommendation_id', 'integer')
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('require_approval', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retire_source', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('submitted_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('migration_jobs_status')
    .on('migration_jobs')
    .columns(['status', 'submitted_at'])
    .execute();
  await db.schema
    .createIndex('migration_jobs_dataset')
    .on('migration_jobs')
    .columns(['dataset_id', 'submitted_at'])
    .execute();

  await db.schema
    .createTable('migration_objects')
    .addColumn('job_id', 'text', (c) =>
      c.notNull().references('migration_jobs.job_id').onDelete('cascade'),
    )
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('migration_objects_pk', ['job_id', 'key'])
    .execute();

  await db.schema
    .createTable('replicas')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('dataset_id', 'integer', (c) =>
      c.notNull().references('datasets.id').onDelete('cascade'),
    )
    .addColumn('uri', 'text', (c) => c.notNull())
    .addColumn('storage_class', 'text', (c) => c.notNull())
    .addColumn('tier', 'text')
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('replicas_dataset_uri', ['dataset_id', 'uri'])
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  for (const t of [
    'replicas',
    'migration_objects',
    'migration_jobs',
    'idempotency_keys',
    'audit_log',
    'dead_letters',
    'event_outbox',
    'event_log',
    'consumer_offsets',
    'recommendations',
    'access_aggregates',
    'access_totals',
    'datasets',
    'tiers',
    'policies',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
