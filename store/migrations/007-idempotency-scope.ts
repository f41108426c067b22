import { sql } from 'kysely';
import type { MigrationDb } from '../db';

/**
 * Idempotency-Keys belong to a caller (the API key's name, or `anonymous` when no keys are
 * configured): the primary key becomes (caller, key), so the same key sent by two callers
 * names two different requests and neither ever sees the other's answer. SQLite cannot
 * change a primary key in place, so the table is rebuilt. Rows recorded before were all
 * unscoped; they are kept as `anonymous` (the open mode's caller), the first of a key if
 * one was used on several endpoints. An index on `created_at` serves expiry and pruning.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createTable('idempotency_keys_scoped')
    .addColumn('caller', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'integer')
    .addColumn('body', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_scoped_pk', ['caller', 'key'])
    .execute();
  await sql`
    insert into idempotency_keys_scoped
      (caller, key, method, path, request_hash, status, body, created_at)
    select 'anonymous', key, method, path, request_hash, status, body, created_at
    from idempotency_keys
    order by created_at
    on conflict do nothing
  `.execute(db);
  await db.schema.dropTable('idempotency_keys').execute();
  await db.schema.alterTable('idempotency_keys_scoped').renameTo('idempotency_keys').execute();
  await db.schema
    .createIndex('idempotency_keys_created')
    .on('idempotency_keys')
    .column('created_at')
    .execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.dropIndex('idempotency_keys_created').ifExists().execute();
  await db.schema.alterTable('idempotency_keys').renameTo('idempotency_keys_scoped').execute();
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
  await sql`
    insert into idempotency_keys (key, method, path, request_hash, status, body, created_at)
    select key, method, path, request_hash, status, body, created_at
    from idempotency_keys_scoped where caller = 'anonymous'
  `.execute(db);
  await db.schema.dropTable('idempotency_keys_scoped').execute();
}
