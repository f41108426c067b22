import type { Config } from '../config';
import { KafkaEventSink } from '../events/kafka';
import { eventIdKeyOf } from '../events/message-id';
import type { EventSink } from '../events/sink';
import type { Logger } from '../runtime/log';
import type { OpenedDb } from '../store/db';

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

/**
 * Picks the event adapter from configuration, once: Kafka (with its outbox in the store,
 * SQLite or PostgreSQL) or the store's durable local log.
 */
export async function createEvents(
  config: Pick<Config, 'kafka' | 'events'>,
  store: OpenedDb,
  log: Logger,
): Promise<Events> {
  if (config.kafka) {
    const sink = await KafkaEventSink.open({
      brokers: config.kafka.brokers,
      clientId: config.kafka.clientId,
      topics: config.kafka.topics,
      topicPrefix: config.events.topicPrefix,
      bufferMax: config.events.bufferMax,
      idKey: await eventIdKeyOf(config.events.idKey, store.db),
      outbox: store.backend.outbox,
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
  const sink = store.backend.localLog({
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
