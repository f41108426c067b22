import type SQLite from 'better-sqlite3';
import type { Config } from '../config';
import type { Logger } from '../runtime/log';
import { KafkaEventSink } from './kafka';
import { LocalLogSink } from './local-log';
import type { EventSink } from './sink';

export type { EventSink, Message, Topic } from './sink';
export { KafkaEventSink } from './kafka';
export { LocalLogSink } from './local-log';

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
  sqlite: SQLite.Database,
  log: Logger,
): Events {
  if (config.kafka) {
    const sink = new KafkaEventSink({
      brokers: config.kafka.brokers,
      clientId: config.kafka.clientId,
      topics: config.kafka.topics,
      topicPrefix: config.events.topicPrefix,
      bufferMax: config.events.bufferMax,
      idKey: config.events.idKey,
      sqlite,
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
  const sink = new LocalLogSink({
    sqlite,
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
