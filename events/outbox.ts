import type SQLite from 'better-sqlite3';

/**
 * The Kafka outbox: messages accepted while Kafka was unreachable, in the SQLite
 * `event_outbox` table, relayed in `seq` order when it returns. Each row keeps the id
 * (`<source>:<n>`) its message was first given, so a message sent twice (once before the
 * failure was noticed, once by the relay) is counted once by the bridge.
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

export class Outbox {
  private readonly insert: SQLite.Statement;
  private readonly spanStmt: SQLite.Statement<[], { lo: number | null; hi: number | null }>;
  private readonly headStmt: SQLite.Statement<[number], OutboxRow>;
  private readonly deleteStmt: SQLite.Statement<[number]>;
  readonly append: (entries: OutboxEntry[]) => void;

  constructor(sqlite: SQLite.Database) {
    this.insert = sqlite.prepare(
      'insert into event_outbox (topic, key, value, ts, msg_id, partition) values (?, ?, ?, ?, ?, ?)',
    );
    this.spanStmt = sqlite.prepare('select min(seq) as lo, max(seq) as hi from event_outbox');
    this.headStmt = sqlite.prepare(
      'select seq, topic, key, value, msg_id, partition from event_outbox order by seq limit ?',
    );
    this.deleteStmt = sqlite.prepare('delete from event_outbox where seq <= ?');
    this.append = sqlite.transaction((entries: OutboxEntry[]) => {
      const ts = Date.now();
      for (const e of entries) this.insert.run(e.topic, e.key, e.value, ts, e.msgId, e.partition);
    });
  }

  /** Rows held (an upper bound: max(seq) - min(seq) + 1, two index lookups). */
  size(): number {
    const { lo, hi } = this.spanStmt.get()!;
    return lo === null || hi === null ? 0 : hi - lo + 1;
  }

  /** The oldest rows, in order. */
  head(limit: number): OutboxRow[] {
    return this.headStmt.all(limit);
  }

  /**
   * Forgets every row up to `seq` (all relayed). Rows appended later have higher seqs, so
   * nothing unsent is lost even when several processes share the table.
   */
  deleteThrough(seq: number): void {
    this.deleteStmt.run(seq);
  }
}
