import { sql } from 'kysely';
import type { MigrationDb } from '../db';
import { isPostgres } from '../dialect';

/**
 * Install-wide settings and bounded tables (issue 9, items 6 and 9):
 *
 * - `install_settings`: values every dim process of the install shares through the
 *   database, e.g. the generated key that signs message ids (events/message-id.ts) when
 *   DIM_EVENT_ID_KEY is not configured, and the audit details cap.
 * - A trigger caps `audit_log.details` whoever writes the row (the API's generic audit,
 *   the ingestion roll-up, anything added later): a longer value is replaced by a small
 *   JSON object holding its length and its head. The cap is the `audit_details_max`
 *   setting (DIM_AUDIT_DETAILS_MAX, written at start-up by store/retention.ts), 4096 until
 *   a process set it.
 * - An index on `idempotency_keys.created_at`, so the pruner deletes old keys without
 *   scanning the table.
 */

/** The cap, read by the trigger from the settings when it fires. */
const CAP = `coalesce((select cast(value as integer) from install_settings where name = 'audit_details_max'), 4096)`;

export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .createTable('install_settings')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idempotency_keys_created')
    .ifNotExists()
    .on('idempotency_keys')
    .columns(['created_at'])
    .execute();
  await db.schema
    .createIndex('audit_log_ts')
    .ifNotExists()
    .on('audit_log')
    .columns(['ts'])
    .execute();
  // The head is at most (cap - 128) / 2 characters: JSON escaping at most doubles it, so
  // the replacement object stays within the cap.
  if (isPostgres(db)) {
    // The same cap as a PL/pgSQL trigger function (a BEFORE trigger replaces the value).
    await sql`
      create function audit_log_cap_details() returns trigger language plpgsql as $$
      declare cap integer := ${sql.raw(CAP)};
      begin
        if length(new.details) > cap then
          new.details := json_build_object(
            'truncated', true,
            'length', length(new.details),
            'head', substr(new.details, 1, (cap - 128) / 2)
          )::text;
        end if;
        return new;
      end $$
    `.execute(db);
    await sql`
      create trigger audit_log_cap_details before insert on audit_log
      for each row execute function audit_log_cap_details()
    `.execute(db);
    return;
  }
  await sql`
    create trigger audit_log_cap_details after insert on audit_log
    when length(new.details) > ${sql.raw(CAP)}
    begin
      update audit_log set details = json_object(
        'truncated', json('true'),
        'length', length(new.details),
        'head', substr(new.details, 1, (${sql.raw(CAP)} - 128) / 2)
      ) where id = new.id;
    end
  `.execute(db);
}

export async function down(db: MigrationDb): Promise<void> {
  if (isPostgres(db)) {
    await sql`drop trigger if exists audit_log_cap_details on audit_log`.execute(db);
    await sql`drop function if exists audit_log_cap_details()`.execute(db);
  } else await sql`drop trigger if exists audit_log_cap_details`.execute(db);
  await db.schema.dropIndex('audit_log_ts').ifExists().execute();
  await db.schema.dropIndex('idempotency_keys_created').ifExists().execute();
  await db.schema.dropTable('install_settings').ifExists().execute();
}
