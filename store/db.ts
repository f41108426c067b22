import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import * as m001 from './migrations/001-initial';
import * as m002telemetry from './migrations/002-telemetry';
import * as m003heads from './migrations/003-recommendation-heads';
import * as m004identity from './migrations/004-retire-identity';
import * as m005keys from './migrations/005-location-keys';
import * as m006actors from './migrations/006-migration-actors';
import * as m007idempotency from './migrations/007-idempotency-scope';
import * as m008retention from './migrations/008-retention';
import * as m009models from './migrations/009-models';
import * as m010sweep from './migrations/010-sweep';
import * as m012hash from './migrations/012-manifest-hash-algorithm';
import * as m013bandwidth from './migrations/013-bandwidth';
import type { Database } from './schema';

/**
 * The metadata store: Kysely over better-sqlite3 now (WAL, busy timeout, foreign keys),
 * PostgreSQL later through Kysely's pg dialect with the same queries and migrations.
 */
export type Db = Kysely<Database>;

/**
 * What a migration gets: a database of no fixed schema. Each migration sees the tables as
 * they were when it was written, not as `Database` describes them today, so it must not
 * be typed by the current schema (Kysely's documented convention for migrations).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above: schema-agnostic by design
export type MigrationDb = Kysely<any>;

const migrations: Record<string, Migration> = {
  '001-initial': m001,
  '002-telemetry': m002telemetry,
  '003-recommendation-heads': m003heads,
  '004-retire-identity': m004identity,
  '005-location-keys': m005keys,
  '006-migration-actors': m006actors,
  '007-idempotency-scope': m007idempotency,
  '008-retention': m008retention,
  '009-models': m009models,
  '010-sweep': m010sweep,
  '012-manifest-hash-algorithm': m012hash,
  '013-bandwidth': m013bandwidth,
};

class InCodeMigrations implements MigrationProvider {
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(migrations);
  }
}

export interface OpenedDb {
  db: Db;
  /** The underlying handle, for the few hot paths that batch prepared statements. */
  sqlite: SQLite.Database;
  close(): Promise<void>;
}

/** Opens (creating if needed) the database file and applies pending migrations. */
export async function openDatabase(file: string): Promise<OpenedDb> {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const { error, results } = await new Migrator({
    db,
    provider: new InCodeMigrations(),
  }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    await db.destroy();
    throw new Error(
      `database migration ${failed?.migrationName ?? ''} failed: ${(error as Error | undefined)?.message ?? 'unknown'}`,
    );
  }
  return { db, sqlite, close: () => db.destroy() };
}

export const now = () => Date.now();
