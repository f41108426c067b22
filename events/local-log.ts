import type SQLite from 'better-sqlite3';
import { Errors } from '../errors';
import type { EventSink, Message, PublishOptions, Topic } from './sink';
import { topicName } from './topics';

/**
 * The durable local log: an EventSink on the SQLite `event_log` table, used when no Kafka
 * is configured. `publish` inserts every message in one transaction: once it resolves the
 * events survive a `kill -9`. The bridge reads the log by `seq` and deletes what it has
 * aggregated. The log is bounded: past `bufferMax` unconsumed rows, publish fails with a
 * 503 (Retry-After) instead of filling the disk.
 */
export interface LocalLogOptions {
  sqlite: SQLite.Database;
  topicPrefix: string;
  bufferMax: number;
}

type Listener = () => void;

export class LocalLogSink implements EventSink {
  private readonly insert: SQLite.Statement;
  private readonly lowest: SQLite.Statement<[string], { lo: number | null }>;
  private readonly highest: SQLite.Statement<[], { hi: number | null }>;
  private readonly accessTopic: string;
  private readonly listeners = new Set<Listener>();
  private readonly mark: SQLite.Statement<[string, number]>;
  private readonly append: (
    topic: string,
    messages: Message[],
    ts: number,
    source: string | undefined,
  ) => void;

  constructor(private readonly opts: LocalLogOptions) {
    const db = opts.sqlite;
    this.insert = db.prepare('insert into event_log (topic, key, value, ts) values (?, ?, ?, ?)');
    this.lowest = db.prepare('select min(seq) as lo from event_log where topic = ?');
    this.highest = db.prepare('select max(seq) as hi from event_log');
    this.accessTopic = topicName(opts.topicPrefix, 'access_events');
    this.mark = db.prepare(
      'insert into appended_requests (source, created_at) values (?, ?) on conflict (source) do nothing',
    );
    this.append = db.transaction(
      (topic: string, messages: Message[], ts: number, source: string | undefined) => {
        // A request's own source already here: an earlier run appended these very events.
        if (source !== undefined && this.mark.run(source, ts).changes === 0) return;
        for (const m of messages) this.insert.run(topic, m.key, serialize(m.value), ts);
      },
    );
  }

  /**
   * With `opts.source` (an idempotent request, PublishOptions), the source is recorded in
   * the append's transaction, and a publish that finds it recorded appends nothing.
   */
  publish(topic: Topic, messages: Message[], opts?: PublishOptions): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    try {
      const backlog = this.backlog();
      if (backlog + messages.length > this.opts.bufferMax) {
        throw Errors.unavailable(
          `the local event log holds ${backlog} events not yet aggregated (limit ${this.opts.bufferMax}): is the bridge running?`,
          10,
        );
      }
      this.append(topicName(this.opts.topicPrefix, topic), messages, Date.now(), opts?.source);
    } catch (err) {
      return Promise.reject(asUnavailable(err));
    }
    for (const l of this.listeners) l();
    return Promise.resolve();
  }

  /**
   * Access events not yet aggregated (an upper bound, from two index lookups: the bridge
   * deletes what it aggregated, so the oldest access event left is where it stands).
   */
  backlog(): number {
    const { lo } = this.lowest.get(this.accessTopic)!;
    const { hi } = this.highest.get()!;
    return lo === null || hi === null ? 0 : hi - lo + 1;
  }

  /** Called after each append: lets a bridge in the same process wake up at once. */
  onAppend(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}

/** Message values are JSON (a string value becomes a JSON string). */
export const serialize = (value: unknown): string => JSON.stringify(value) ?? 'null';

function asUnavailable(err: unknown): Error {
  if (err instanceof Error && 'status' in err) return err;
  return Errors.unavailable(
    `could not write to the local event log: ${(err as Error).message ?? String(err)}`,
    5,
  );
}

/** What the bridge reads from the local log (SQLite here, PostgreSQL in local-log-pg.ts). */
export interface LocalLogReader {
  /** Rows of `topic` from `seq >= from`, in order, at most `limit`. */
  read(
    topic: string,
    from: number,
    limit: number,
  ): Promise<{ seq: number; value: string; ts: number }[]>;
  /** Deletes (a slice of) the rows of `topic` below `below`: aggregated. */
  prune(topic: string, below: number): Promise<void>;
  span(topic: string): Promise<{ hi: number | null; lo: number | null }>;
}

export function sqliteLocalLogReader(sqlite: SQLite.Database): LocalLogReader {
  const read = sqlite.prepare<[string, number, number], { seq: number; value: string; ts: number }>(
    'select seq, value, ts from event_log where topic = ? and seq >= ? order by seq limit ?',
  );
  // In slices, so that the API's appends never wait long for the write lock.
  const prune = sqlite.prepare<[string, number]>(
    'delete from event_log where seq in (select seq from event_log where topic = ? and seq < ? order by seq limit 20000)',
  );
  const span = sqlite.prepare<[string], { hi: number | null; lo: number | null }>(
    'select max(seq) as hi, min(seq) as lo from event_log where topic = ?',
  );
  return {
    read: (topic, from, limit) => Promise.resolve(read.all(topic, from, limit)),
    prune: (topic, below) => Promise.resolve(void prune.run(topic, below)),
    span: (topic) => Promise.resolve(span.get(topic)!),
  };
}
