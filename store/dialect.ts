import { CompiledQuery, PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * The few places where dim's SQL differs between SQLite and PostgreSQL, in one file: every
 * other query is written once with Kysely and runs on both.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any schema: store and migrations
type AnyDb = Kysely<any>;

/** True when `db` talks to PostgreSQL. */
export const isPostgres = (db: AnyDb): boolean =>
  db.getExecutor().adapter instanceof PostgresAdapter;

const numbered = new Map<string, string>();

/**
 * A statement text with `?` placeholders (the hot paths build theirs once and reuse them),
 * numbered `$1, $2, ...` on PostgreSQL. The texts hold no `?` inside literals.
 */
export function rawQuery(db: AnyDb, text: string, params: readonly unknown[]): CompiledQuery {
  if (!isPostgres(db)) return CompiledQuery.raw(text, [...params]);
  let t = numbered.get(text);
  if (t === undefined) {
    let i = 0;
    t = text.replace(/\?/g, () => `$${++i}`);
    if (numbered.size < 1024) numbered.set(text, t);
  }
  return CompiledQuery.raw(t, [...params]);
}

/** A JSON array (as text) of `expr` over the rows: `[]` when there are none. */
export const jsonArrayAgg = (db: AnyDb, expr: RawBuilder<unknown>): RawBuilder<string> =>
  isPostgres(db)
    ? sql<string>`coalesce(json_agg(${expr}), '[]')::text`
    : sql<string>`json_group_array(${expr})`;

/** A JSON array of the values (json_array on SQLite, json_build_array on PostgreSQL). */
export const jsonArray = (db: AnyDb, values: RawBuilder<unknown>): RawBuilder<unknown> =>
  isPostgres(db) ? sql`json_build_array(${values})` : sql`json_array(${values})`;

/** PostgreSQL's SQLSTATEs for a transaction that lost a race and may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const ATTEMPTS = 8;

export const isSerializationFailure = (err: unknown): boolean =>
  RETRYABLE.has(String((err as { code?: unknown } | null)?.code));

/**
 * A transaction on PostgreSQL at `isolation`, run again (up to a few times, after a short
 * random pause) when it fails on a concurrent one (a serialization failure or a deadlock):
 * `fn` must have no effect outside the database.
 */
export async function retrying<DB, T>(
  db: Kysely<DB>,
  isolation: 'read committed' | 'repeatable read' | 'serializable',
  fn: (trx: Kysely<DB>) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().setIsolationLevel(isolation).execute(fn);
    } catch (err) {
      if (attempt >= ATTEMPTS || !isSerializationFailure(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    }
  }
}

/**
 * A serializable transaction on PostgreSQL, retried: what SQLite's single writer gives the
 * read-then-write transactions (the switch, the overlap checks) for free.
 */
export const serializable = <DB, T>(
  db: Kysely<DB>,
  fn: (trx: Kysely<DB>) => Promise<T>,
): Promise<T> => retrying(db, 'serializable', fn);
