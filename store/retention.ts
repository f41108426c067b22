import type SQLite from 'better-sqlite3';
import { Kysely } from 'kysely';
import type { Retention } from '../config';
import type { Logger } from '../runtime/log';
import type { Db } from './db';
import { isPostgres, rawQuery } from './dialect';
import { setSetting, setSettingDb } from './settings';

/**
 * Retention: the tables that grow with use are pruned on a timer, so that no caller can
 * grow the database without bound (README, "Security" / "Retention").
 *
 * - `event_log`: every topic but access events (those are the bridge's backlog: it deletes
 *   them once aggregated, and DIM_EVENT_BUFFER_MAX bounds them) keeps its rows for
 *   `maxAgeMs` and at most `maxRows` per topic.
 * - `dead_letters`: `maxAgeMs` and at most `maxRows`.
 * - `idempotency_keys`: `maxAgeMs` after `created_at`; `appended_requests` twice that.
 * - `audit_log`: `maxAgeMs` and at most `maxRows`; `details` longer than `detailsMax`
 *   characters are cut when written (a trigger, store/migrations/008-retention.ts).
 *
 * Deletes go in slices of `BATCH` rows, each its own short transaction, with a yield in
 * between, so the pruner never holds the write lock long. Oldest first: rows are taken in
 * id (or seq) order, which is insertion order.
 */
const BATCH = 2000;

const yieldToOthers = () => new Promise<void>((r) => setImmediate(r));

/**
 * Where the pruner runs its statements (`?` placeholders): better-sqlite3's handle
 * (prepared statements, SQLite), or the store's Kysely (any backend: PostgreSQL).
 */
export type PruneTarget = SQLite.Database | Db;

interface Stmt {
  run(...args: Array<string | number>): Promise<number>;
  get<T>(...args: Array<string | number>): Promise<T | undefined>;
}

function statements(target: PruneTarget) {
  if (target instanceof Kysely) {
    const db = target;
    return {
      pg: isPostgres(db),
      prepare: (text: string): Stmt => ({
        run: async (...args) =>
          Number((await db.executeQuery(rawQuery(db, text, args))).numAffectedRows ?? 0),
        get: async <T>(...args: Array<string | number>) =>
          (await db.executeQuery(rawQuery(db, text, args))).rows[0] as T | undefined,
      }),
      all: async <T>(text: string) => (await db.executeQuery(rawQuery(db, text, []))).rows as T[],
    };
  }
  const sqlite = target;
  return {
    pg: false,
    prepare: (text: string): Stmt => {
      const stmt = sqlite.prepare<unknown[]>(text);
      return {
        run: (...args) => Promise.resolve(stmt.run(...args).changes),
        get: <T>(...args: Array<string | number>) =>
          Promise.resolve(stmt.get(...args) as T | undefined),
      };
    },
    all: <T>(text: string) => Promise.resolve(sqlite.prepare(text).all() as T[]),
  };
}

/** Runs a `... limit ?` delete (the last parameter) until a slice deletes fewer than BATCH. */
async function inSlices(stmt: Stmt, args: Array<string | number>): Promise<number> {
  let total = 0;
  for (;;) {
    const changes = await stmt.run(...args, BATCH);
    total += changes;
    if (changes < BATCH) return total;
    await yieldToOthers();
  }
}

/** The topics in the log, by a skip scan of the (topic, seq) index. */
async function topics(target: PruneTarget): Promise<string[]> {
  const rows = await statements(target).all<{ topic: string }>(
    `with recursive t(topic) as (
       select min(topic) from event_log
       union all
       select (select min(topic) from event_log where topic > t.topic) from t where t.topic is not null
     ) select topic from t where topic is not null`,
  );
  return rows.map((r) => r.topic);
}

/** access_events (under any prefix) is the bridge's backlog, never pruned here. */
const isAccessTopic = (topic: string) => topic.endsWith('access_events');

export async function pruneEventLog(
  sqlite: PruneTarget,
  keep: Retention['eventLog'],
  now = Date.now(),
): Promise<number> {
  // The oldest slice's old rows; stops at the first slice holding a young row.
  const { prepare } = statements(sqlite);
  const byAge = prepare(
    'delete from event_log where ts < ? and seq in (select seq from event_log where topic = ? order by seq limit ?)',
  );
  const nth = prepare(
    'select seq from event_log where topic = ? order by seq desc limit 1 offset ?',
  );
  const upTo = prepare(
    'delete from event_log where seq in (select seq from event_log where topic = ? and seq <= ? order by seq limit ?)',
  );
  let total = 0;
  for (const topic of await topics(sqlite)) {
    if (isAccessTopic(topic)) continue;
    total += await inSlices(byAge, [now - keep.maxAgeMs, topic]);
    // The newest maxRows stay: everything up to the (maxRows+1)-th newest goes.
    const cut = await nth.get<{ seq: number }>(topic, keep.maxRows);
    if (cut) total += await inSlices(upTo, [topic, cut.seq]);
  }
  return total;
}

/** Age and count for a table with an integer id in insertion order and an indexed `ts`. */
async function pruneByTsAndCount(
  sqlite: PruneTarget,
  table: 'dead_letters' | 'audit_log',
  keep: { maxAgeMs: number; maxRows: number },
  now: number,
): Promise<number> {
  const { prepare } = statements(sqlite);
  const byAge = prepare(
    `delete from ${table} where id in (select id from ${table} where ts < ? limit ?)`,
  );
  const nth = prepare(`select id from ${table} order by id desc limit 1 offset ?`);
  const upTo = prepare(
    `delete from ${table} where id in (select id from ${table} where id <= ? order by id limit ?)`,
  );
  let total = await inSlices(byAge, [now - keep.maxAgeMs]);
  const cut = await nth.get<{ id: number }>(keep.maxRows);
  if (cut) total += await inSlices(upTo, [cut.id]);
  return total;
}

export function pruneDeadLetters(
  sqlite: PruneTarget,
  keep: Retention['deadLetters'],
  now = Date.now(),
): Promise<number> {
  return pruneByTsAndCount(sqlite, 'dead_letters', keep, now);
}

export function pruneAuditLog(
  sqlite: PruneTarget,
  keep: Retention['audit'],
  now = Date.now(),
): Promise<number> {
  return pruneByTsAndCount(sqlite, 'audit_log', keep, now);
}

/** Old keys, finished or not (api/route.ts expires unfinished claims much sooner itself). */
export function pruneIdempotencyKeys(
  sqlite: PruneTarget,
  keep: Retention['idempotencyKeys'],
  now = Date.now(),
): Promise<number> {
  const { pg, prepare } = statements(sqlite);
  // A row's physical id: SQLite's rowid, PostgreSQL's ctid.
  const row = pg ? 'ctid' : 'rowid';
  const stmt = prepare(
    `delete from idempotency_keys where ${row} in (select ${row} from idempotency_keys where created_at < ? limit ?)`,
  );
  return inSlices(stmt, [now - keep.maxAgeMs]);
}

/**
 * Sources of idempotent requests the local log holds (store/migrations/014): kept twice as
 * long as their keys, so a request that may still run again always finds its own.
 */
export function pruneAppendedRequests(
  target: PruneTarget,
  keep: Retention['idempotencyKeys'],
  now = Date.now(),
): Promise<number> {
  const { prepare } = statements(target);
  const stmt = prepare(
    'delete from appended_requests where source in (select source from appended_requests where created_at < ? limit ?)',
  );
  return inSlices(stmt, [now - 2 * keep.maxAgeMs]);
}

/** The cap the audit trigger applies to `details` (every process writes its configured one). */
export async function setAuditDetailsMax(target: PruneTarget, max: number): Promise<void> {
  if (target instanceof Kysely) await setSettingDb(target, 'audit_details_max', String(max));
  else setSetting(target, 'audit_details_max', String(max));
}

export interface Pruned {
  event_log: number;
  dead_letters: number;
  idempotency_keys: number;
  appended_requests: number;
  audit_log: number;
}

/** One pass over every table. */
export async function pruneAll(
  sqlite: PruneTarget,
  r: Retention,
  now = Date.now(),
): Promise<Pruned> {
  return {
    event_log: await pruneEventLog(sqlite, r.eventLog, now),
    dead_letters: await pruneDeadLetters(sqlite, r.deadLetters, now),
    idempotency_keys: await pruneIdempotencyKeys(sqlite, r.idempotencyKeys, now),
    appended_requests: await pruneAppendedRequests(sqlite, r.idempotencyKeys, now),
    audit_log: await pruneAuditLog(sqlite, r.audit, now),
  };
}

export interface RunningRetention {
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
}

/**
 * The pruner of one process: sets the audit details cap, then runs `pruneAll` a few
 * seconds after start and every `intervalMs` (timers unref'd: it never keeps a process
 * alive). Every process that opens the database runs one; passes are idempotent, so
 * several at once only repeat each other's cheap index lookups.
 */
export function startRetention(opts: {
  /** better-sqlite3's handle on SQLite; the store's Kysely on PostgreSQL. */
  db: PruneTarget;
  retention: Retention;
  log: Logger;
  /** Delay of the first pass (default 10 s: not in the way of start-up). */
  firstMs?: number;
}): RunningRetention {
  const { db: sqlite, retention, log } = opts;
  const capped = setAuditDetailsMax(sqlite, retention.audit.detailsMax).catch((err: unknown) => {
    // The cap the database holds (4096, or another process's) stays in force meanwhile.
    log.warn('could not set the audit details cap; keeping the stored one', {
      err: (err as Error).message,
    });
  });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const pass = async () => {
    await capped;
    try {
      const pruned = await pruneAll(sqlite, retention);
      if (Object.values(pruned).some((n) => n > 0)) log.info('pruned old rows', { ...pruned });
    } catch (err) {
      log.warn('pruning old rows failed; trying again later', { err: (err as Error).message });
    }
  };
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass().finally(() => {
        running = undefined;
        schedule(retention.intervalMs);
      });
    }, ms);
    timer.unref();
  };
  schedule(opts.firstMs ?? Math.min(10_000, retention.intervalMs));
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await capped;
      await running;
    },
  };
}
