import type { MigrationDb } from '../db';

/**
 * Idempotent requests that run again after a crash publish their events once:
 *
 * - idempotency_keys.origin_ts: when the request that owns the key first claimed it. A claim
 *   taken over after a crash (the same request, retried) keeps it; a key claimed again after
 *   its retention (a new request) gets a new one. Events of the request are numbered under a
 *   source derived from caller, key and origin (api/routes/access-events.ts): a retry carries
 *   the same ids, a new request new ones. null on rows from before: their created_at.
 * - appended_requests: the sources whose events the local log already holds, written in the
 *   append's own transaction (events/local-log.ts): a retry finds its source and appends
 *   nothing. Pruned by created_at (store/retention.ts).
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('idempotency_keys').addColumn('origin_ts', 'bigint').execute();
  await db.schema
    .createTable('appended_requests')
    .addColumn('source', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('appended_requests_created_at')
    .on('appended_requests')
    .column('created_at')
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.dropTable('appended_requests').execute();
  await db.schema.alterTable('idempotency_keys').dropColumn('origin_ts').execute();
}
