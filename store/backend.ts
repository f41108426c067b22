import type SQLite from 'better-sqlite3';
import { LocalLogSink, sqliteLocalLogReader, type LocalLogReader } from '../events/local-log';
import { PgLocalLogSink, pgLocalLogReader } from '../events/local-log-pg';
import { PgOutbox } from '../events/outbox-pg';
import { SqliteOutbox, type Outbox } from '../events/outbox';
import type { EventSink } from '../events/sink';
import { AccessWriter, type AccessStore } from './access';
import { PgAccessStore } from './access-pg';
import type { Db } from './db';
import type { PruneTarget } from './retention';

/**
 * The hot paths each backend implements its own way (prepared better-sqlite3 statements on
 * SQLite, set-based SQL under advisory locks on PostgreSQL), behind narrow interfaces. The
 * set is chosen once, when the store is opened (store/db.ts openDatabase, called by the
 * composition root, app/system.ts): nothing else in dim asks which backend it runs on.
 */
export interface Backend {
  /** The Kafka sink's outbox (events/outbox.ts). */
  outbox: Outbox;
  /** The durable local log, when no Kafka is configured (events/local-log.ts). */
  localLog(opts: { topicPrefix: string; bufferMax: number }): LocalLog;
  /** The bridge's reads of the local log. */
  localLogReader: LocalLogReader;
  /** The bridge's batch-plus-offsets transaction (store/access.ts, invariant 5). */
  accessStore(consumer: string, topic: string, deadLetterSource: string): AccessStore;
  /** What retention prunes (store/retention.ts). */
  pruneTarget: PruneTarget;
}

/** The local log's sink, on either backend. */
export interface LocalLog extends EventSink {
  /** Access events not yet aggregated (an upper bound). */
  backlog(): number;
  /** Called after each append: wakes a bridge in the same process. */
  onAppend(listener: () => void): () => void;
  close(): Promise<void>;
}

export function sqliteBackend(sqlite: SQLite.Database): Backend {
  return {
    outbox: new SqliteOutbox(sqlite),
    localLog: (opts) => new LocalLogSink({ sqlite, ...opts }),
    localLogReader: sqliteLocalLogReader(sqlite),
    accessStore(consumer, topic, deadLetterSource) {
      const w = new AccessWriter(sqlite, consumer, topic, deadLetterSource);
      return {
        apply: (p, b, n) => Promise.resolve(w.apply(p, b, n)),
        storedOffset: (p) => Promise.resolve(w.storedOffset(p)),
        forgetOldSources: (maxAgeMs) => Promise.resolve(w.forgetOldSources(maxAgeMs)),
      };
    },
    pruneTarget: sqlite,
  };
}

export function postgresBackend(db: Db): Backend {
  return {
    outbox: new PgOutbox(db),
    localLog: (opts) => new PgLocalLogSink({ db, ...opts }),
    localLogReader: pgLocalLogReader(db),
    accessStore: (consumer, topic, deadLetterSource) =>
      new PgAccessStore(db, consumer, topic, deadLetterSource),
    pruneTarget: db,
  };
}
