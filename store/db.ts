import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  DEFAULT_MIGRATION_TABLE,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  sql,
  DataTypeNode,
  OperationNodeTransformer,
  type ColumnDefinitionNode,
  type KyselyPlugin,
  type Migration,
  type MigrationProvider,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import pg from 'pg';
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
import * as m014origin from './migrations/014-request-origin';
import type { Database } from './schema';
import { postgresBackend, sqliteBackend, type Backend } from './backend';

/**
 * The metadata store: Kysely over better-sqlite3 (WAL, busy timeout, foreign keys), the
 * embedded default, or over node-postgres when DIM_DATABASE_URL is set; the same queries
 * and migrations on both (store/dialect.ts has the few places where the SQL differs).
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
  '014-request-origin': m014origin,
};

/**
 * The migrations' column types as PostgreSQL spells them, so one schema-builder text serves
 * both: SQLite's `real` is an 8-byte float, PostgreSQL's a 4-byte one (`double precision`
 * is the same 8 bytes); an `integer ... autoincrement` key is a `serial` there.
 */
class PostgresSchemaTypes implements KyselyPlugin {
  readonly #t = new (class extends OperationNodeTransformer {
    protected override transformDataType(node: DataTypeNode): DataTypeNode {
      return node.dataType === 'real' ? DataTypeNode.create('double precision') : node;
    }
    protected override transformColumnDefinition(node: ColumnDefinitionNode): ColumnDefinitionNode {
      const n = super.transformColumnDefinition(node);
      if (!n.autoIncrement) return n;
      return Object.freeze({
        ...n,
        autoIncrement: undefined,
        dataType: DataTypeNode.create('serial'),
      });
    }
  })();
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.#t.transformNode(args.node);
  }
  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
}

class InCodeMigrations implements MigrationProvider {
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(migrations);
  }
}

export interface OpenedDb {
  db: Db;
  /** For logs and tests; code picks its backend's implementation from `backend`. */
  dialect: 'sqlite' | 'postgres';
  /**
   * The underlying better-sqlite3 handle, for SQLite-only tests and tools. On PostgreSQL
   * reading it throws: nothing falls back to SQLite when PostgreSQL was asked for.
   */
  sqlite: SQLite.Database;
  /** The backend's own hot paths (store/backend.ts), chosen here once. */
  backend: Backend;
  close(): Promise<void>;
}

/** Where the store lives: a SQLite file (or `:memory:`), or a PostgreSQL URL. */
export type DatabaseTarget =
  | string
  | {
      url: string;
      /** A schema of its own (created if missing) instead of the role's default: tests. */
      schema?: string;
    };

/** The store the configuration names: DIM_DATABASE_URL if set, else the SQLite file. */
export const configuredDatabase = (config: {
  dbFile: string;
  databaseUrl: string | undefined;
}): DatabaseTarget => (config.databaseUrl ? { url: config.databaseUrl } : config.dbFile);

/**
 * Opens (creating if needed) the database and applies pending migrations. On PostgreSQL,
 * Kysely's migrator holds a session advisory lock (`pg_advisory_lock`) around reading the
 * applied migrations and running the pending ones in one transaction (transactional DDL),
 * so several processes starting at once migrate once and a failed migration leaves nothing.
 */
export async function openDatabase(target: DatabaseTarget): Promise<OpenedDb> {
  return typeof target === 'string' ? openSqlite(target) : openPostgres(target);
}

async function migrate(db: Db, migrationTableSchema?: string): Promise<Error | undefined> {
  const { error, results } = await new Migrator({
    db,
    provider: new InCodeMigrations(),
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
  }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (!error && !failed) return undefined;
  return new Error(
    `database migration ${failed?.migrationName ?? ''} failed: ${(error as Error | undefined)?.message ?? 'unknown'}`,
  );
}

/** True unless every migration is recorded as applied (a fresh file: none is). */
async function pendingMigrations(db: Db): Promise<boolean> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === DEFAULT_MIGRATION_TABLE)) return true;
  const { rows: done } = await sql<{
    name: string;
  }>`select name from ${sql.table(DEFAULT_MIGRATION_TABLE)}`.execute(db);
  const applied = new Set(done.map((r) => r.name));
  return Object.keys(migrations).some((m) => !applied.has(m));
}

async function openSqlite(file: string): Promise<OpenedDb> {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  // Kysely's SQLite migrator takes no lock: several processes opening one fresh file at
  // once would each run the migrations. Holding SQLite's write lock around it (BEGIN
  // IMMEDIATE; the others wait busy_timeout) makes one migrate and the rest find it done,
  // and a migration that fails leaves nothing (SQLite's DDL is transactional).
  // Only when something is pending: a start on a migrated file takes no write lock.
  const failed = (await pendingMigrations(db))
    ? await (async () => {
        sqlite.exec('begin immediate');
        const err = await migrate(db).catch((e: Error) => e);
        sqlite.exec(err ? 'rollback' : 'commit');
        return err;
      })()
    : undefined;
  if (failed) {
    await db.destroy();
    throw failed;
  }
  return {
    db,
    dialect: 'sqlite',
    sqlite,
    backend: sqliteBackend(sqlite),
    close: () => db.destroy(),
  };
}

/**
 * node-postgres returns int8 and numeric as strings (they may exceed 2^53); dim's bigints
 * are epoch milliseconds, byte counts and counters, all below 2^53, and its sums are of
 * those: read them as numbers, as better-sqlite3 does. Per pool, not pg's global table.
 */
const INT8 = 20;
const NUMERIC = 1700;
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format) as (v: string) => unknown;
  }) as pg.CustomTypesConfig['getTypeParser'],
};

async function openPostgres(target: { url: string; schema?: string }): Promise<OpenedDb> {
  const { schema } = target;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema))
    throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const pool = new pg.Pool({
    connectionString: target.url,
    types: pgTypes,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    if (schema) {
      // `if not exists` still fails when another connection creates it at the same moment.
      await sql`create schema if not exists ${sql.id(schema)}`.execute(db).catch((err: unknown) => {
        if ((err as { code?: string }).code !== '23505') throw err; // unique_violation
      });
    }
    // The migrator's own tables go in the store's schema (it otherwise looks for them in any
    // schema of the database, and would find another schema's).
    const { rows } = await sql<{ s: string }>`select current_schema() as s`.execute(db);
    const current = rows[0]?.s;
    if (!current) throw new Error('the database role has no schema to create tables in');
    const failed = await migrate(db.withPlugin(new PostgresSchemaTypes()), current);
    if (failed) throw failed;
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw err;
  }
  return {
    db,
    dialect: 'postgres',
    get sqlite(): SQLite.Database {
      throw new Error('the store is on PostgreSQL (DIM_DATABASE_URL): there is no SQLite handle');
    },
    backend: postgresBackend(db),
    close: () => db.destroy(),
  };
}

export const now = () => Date.now();
