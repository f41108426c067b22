import type { MigrationDb } from '../db';

/**
 * `migration_objects.hash_algorithm`: the algorithm of the row's content hash (column
 * `sha256`, named before there was a choice): 'sha256' or 'blake3' (issue 12: file:// to
 * file:// copies hash with BLAKE3 unless DIM_FILE_HASH=sha256). Null on rows written before
 * this migration, which are SHA-256; verify checks each row with its own algorithm.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('migration_objects').addColumn('hash_algorithm', 'text').execute();
}

export async function down(db: MigrationDb): Promise<void> {
  await db.schema.alterTable('migration_objects').dropColumn('hash_algorithm').execute();
}
