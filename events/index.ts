import type { Config } from '../config';
import type { OpenedDb } from '../store/db';
import type { Logger } from '../runtime/log';
import { KafkaEventSink } from './kafka';
import { LocalLogSink } from './local-log';
import { PgLocalLogSink } from './local-log-pg';
import type { EventSink } from './sink';

export type { EventSink, Message, Topic } from './sink';
export { KafkaEventSink } from './kafka';
export { LocalLogSink } from './local-log';
export { PgLocalLogSink } from './local-log-pg';

/** The sink a process publishes to, and how to stop it. */
export interface Events {
  sink: EventSink;
  /** `kafka` when KAFKA_BROKERS is set, else `local` (the durable local log). */
  kind: 'kafka' | 'local';
  /** For /health: rejects while Kafka is unreachable (events are being buffered). */
  health(): Promise<void>;
  /** Events accepted but not yet delivered: the outbox (Kafka) or the local log's backlog. */
  buffer: { buffer: 'kafka-outbox' | 'local-log'; depth: () => number };
  /** Local log only: calls back after each append (wakes a bridge in the same process). */
  onAppend?: (listener: () => void) => () => void;
  close(): Promise<void>;
}

/** Picks the adapter from configuration: Kafka (with its outbox) or the local log. */
export function createEvents(
  config: Pick<Config, 'kafka' | 'events'>,
  store: OpenedDb,
  log: Logger,
): Events {
  if (config.kafka) {
    if (store.dialect === 'postgres') {
      // Its outbox (events/outbox.ts) is SQLite's so far: refuse rather than fall back.
      throw new Error(
        "KAFKA_BROKERS with DIM_DATABASE_URL: the Kafka sink's outbox does not run on PostgreSQL yet; unset one of them",
      );
    }
    const sink = new KafkaEventSink({
      brokers: config.kafka.brokers,
      clientId: config.kafka.clientId,
      topics: config.kafka.topics,
      topicPrefix: config.events.topicPrefix,
      bufferMax: config.events.bufferMax,
      idKey: config.events.idKey,
      sqlite: store.sqlite,
      log: log.child({ part: 'events' }),
    });
    return {
      sink,
      kind: 'kafka',
      health: () => sink.health(),
      buffer: { buffer: 'kafka-outbox', depth: () => sink.state().buffered },
      close: () => sink.close(),
    };
  }
  const sink = localLogSink(store, {
    topicPrefix: config.events.topicPrefix,
    bufferMax: config.events.bufferMax,
  });
  return {
    sink,
    kind: 'local',
    health: () => Promise.resolve(),
    buffer: { buffer: 'local-log', depth: () => sink.backlog() },
    onAppend: (listener) => sink.onAppend(listener),
    close: () => sink.close(),
  };
}

/** The durable local log on the store's backend. */
export function localLogSink(
  store: OpenedDb,
  opts: { topicPrefix: string; bufferMax: number },
): LocalLogSink | PgLocalLogSink {
  return store.dialect === 'postgres'
    ? new PgLocalLogSink({ db: store.db, ...opts })
    : new LocalLogSink({ sqlite: store.sqlite, ...opts });
}
