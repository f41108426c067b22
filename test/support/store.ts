import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { openDatabase, type OpenedDb } from '../../store/db';

/**
 * The store a test opens, on the backend of its jest project: SQLite (project `unit`) or
 * PostgreSQL (project `unit-pg`, whose config sets the global DIM_TEST_DATABASE_URL).
 *
 * On PostgreSQL each SQLite file name maps to a schema of its own, `dim_test_<hash>`, in
 * the one test database (test files run in parallel: each gets its own tables), created and
 * migrated on open and dropped when the last handle on it closes. Opening the same file
 * twice gives two pools on one schema, as two processes on one SQLite file would be.
 */
const testUrl = (globalThis as { DIM_TEST_DATABASE_URL?: unknown }).DIM_TEST_DATABASE_URL;

export const testBackend: 'sqlite' | 'postgres' =
  typeof testUrl === 'string' ? 'postgres' : 'sqlite';

/** The URL of the PostgreSQL test database, on the unit-pg project. */
export const testDatabaseUrl = typeof testUrl === 'string' ? testUrl : undefined;

const open = new Map<string, number>();

/** A fresh schema name, unique to this process and call. */
export const testSchemaName = (seed = randomBytes(8).toString('hex')) =>
  `dim_test_${createHash('sha256').update(`${process.pid}:${seed}`).digest('hex').slice(0, 20)}`;

export async function openTestStore(file: string): Promise<OpenedDb> {
  if (testDatabaseUrl === undefined) return openDatabase(file);
  const schema = testSchemaName(file === ':memory:' ? undefined : file);
  const store = await openDatabase({ url: testDatabaseUrl, schema });
  open.set(schema, (open.get(schema) ?? 0) + 1);
  return {
    db: store.db,
    dialect: store.dialect,
    get sqlite() {
      return store.sqlite; // throws: the test needs SQLite
    },
    backend: store.backend,
    async close() {
      const left = (open.get(schema) ?? 1) - 1;
      if (left > 0) open.set(schema, left);
      else {
        open.delete(schema);
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
      }
      await store.close();
    },
  };
}
