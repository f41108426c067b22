import type { MigrationDb } from '../db';

/**
 * Telemetry: an id on each outbox row and the bridge's per-source watermarks, so events
 * relayed again after an ambiguous Kafka failure are recognised and counted once
 * (see events/README.md).
 */
export async function up(db: MigrationDb): Promise<void> {
  // "<source>:<n>": which sink instance accepted the message and its number there, and the
  // partition it was (or would have been) sent to: a re-send must group messages the same way.
  await db.schema.alterTable('event_outbox').addColumn('msg_id', 'text').execute();
  await db.schema.alterTable('event_outbox').addColumn('partition', 'integer').execute();
  await db.schema
    .createTable('source_marks')
    .addColumn('consumer', 'text', (c) => c.notNull())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('partition', 'integer', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('last_n', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('source_marks_pk', ['consumer', 'topic', 'partition', 'source'])
    .execute();
  await db.schema.createIndex('dead_letters_ts').on('dead_letters').columns(['ts']).execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.dropIndex('dead_letters_ts').ifExists().execute();
  await db.schema.dropTable('source_marks').ifExists().execute();
  await db.schema.alterTable('event_outbox').dropColumn('partition').execute();
  await db.schema.alterTable('event_outbox').dropColumn('msg_id').execute();
}
