/**
 * Where dim publishes its messages: Kafka topics when KAFKA_BROKERS is set, else the
 * durable local log (the `event_log` table). Keys are dataset ids, values JSON.
 */
export type Topic =
  'access_events' | 'migration_jobs' | 'migration_status' | 'recommendations' | 'metrics';

export interface Message {
  key: string;
  value: unknown;
}

export interface PublishOptions {
  /**
   * Kafka: number these messages under this source, 1, 2, ... in order, instead of under
   * the sink's own running counter. The same messages published again with the same source
   * carry the same ids, so the bridge counts them once: an idempotent request retried after
   * the process died between publishing and recording its answer (api/routes/access-events.ts).
   */
  source?: string;
}

export interface EventSink {
  /**
   * Resolves once the messages are durable (acknowledged by Kafka, or committed to the
   * local log / the outbox while Kafka is down). Rejects only when they could not be kept.
   */
  publish(topic: Topic, messages: Message[], opts?: PublishOptions): Promise<void>;
}
