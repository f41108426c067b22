import type SQLite from 'better-sqlite3';

/**
 * The Kafka outbox: messages accepted while Kafka was unreachable, in the `event_outbox`
 * table of the metadata store, relayed in `seq` order when it returns. Each row keeps the
 * id (`<source>:<n>`) its message was first given, so a message sent twice (once before the
 * failure was noticed, once by the relay) is counted once by the bridge.
 *
 * Two implementations of one narrow interface: SQLite's here (prepared statements; its
 * single writer commits in `seq` order), PostgreSQL's in outbox-pg.ts (appends serialized
 * by an advisory lock, for the same guarantee). Several processes may share the table:
 * any of them relays what any left.
 */
export interface OutboxRow {
  seq: number;
  topic: string;
  key: string;
  value: string;
  msg_id: string | null;
  partition: number | null;
}

export interface OutboxEntry {
  topic: string;
  key: string;
  value: string;
  msgId: string;
  partition: number | null;
}

export interface Outbox {
  /** Rows held (an upper bound: max(seq) - min(seq) + 1, two index lookups). */
  size(): Promise<number>;
  /** Appends in one transaction: durable once it resolves, committed in `seq` order. */
  append(entries: OutboxEntry[]): Promise<void>;
  /** The oldest rows, in order. */
  head(limit: number): Promise<OutboxRow[]>;
  /**
   * Forgets every row up to `seq` (all relayed). Rows committed later have higher seqs, so
   * nothing unsent is lost even when several processes share the table.
   */
  deleteThrough(seq: number): Promise<void>;
}

export class SqliteOutbox implements Outbox {
  private readonly insert: SQLite.Statement;
  private readonly spanStmt: SQLite.Statement<[], { lo: number | null; hi: number | null }>;
  private readonly headStmt: SQLite.Statement<[number], OutboxRow>;
  private readonly deleteStmt: SQLite.Statement<[number]>;
  private readonly appendTx: (entries: OutboxEntry[]) => void;

  constructor(sqlite: SQLite.Database) {
    this.insert = sqlite.prepare(
      'insert into event_outbox (topic, key, value, ts, msg_id, partition) values (?, ?, ?, ?, ?, ?)',
    );
    this.spanStmt = sqlite.prepare('select min(seq) as lo, max(seq) as hi from event_outbox');
    this.headStmt = sqlite.prepare(
      'select seq, topic, key, value, msg_id, partition from event_outbox order by seq limit ?',
    );
    this.deleteStmt = sqlite.prepare('delete from event_outbox where seq <= ?');
    this.appendTx = sqlite.transaction((entries: OutboxEntry[]) => {
      const ts = Date.now();
      for (const e of entries) this.insert.run(e.topic, e.key, e.value, ts, e.msgId, e.partition);
    });
  }

  size(): Promise<number> {
    return attempt(() => {
      const { lo, hi } = this.spanStmt.get()!;
      return lo === null || hi === null ? 0 : hi - lo + 1;
    });
  }

  append(entries: OutboxEntry[]): Promise<void> {
    return attempt(() => this.appendTx(entries));
  }

  head(limit: number): Promise<OutboxRow[]> {
    return attempt(() => this.headStmt.all(limit));
  }

  deleteThrough(seq: number): Promise<void> {
    return attempt(() => void this.deleteStmt.run(seq));
  }
}

/** A synchronous call as a promise (its throw a rejection). */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
