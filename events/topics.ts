import type { Topic } from './sink';

/** Every topic dim uses. */
export const TOPICS: readonly Topic[] = [
  'access_events',
  'migration_jobs',
  'migration_status',
  'recommendations',
  'metrics',
];

/** The topic's name on the broker (and in the local log): the configured prefix + the name. */
export const topicName = (prefix: string, topic: Topic): string => `${prefix}${topic}`;

/**
 * How dim creates its topics (DIM_KAFKA_PARTITIONS, DIM_KAFKA_REPLICATION_FACTOR): six
 * partitions, so up to six bridges of one consumer group share `access_events`.
 */
export interface TopicSettings {
  partitions: number;
  replicationFactor: number;
}

export const DEFAULT_TOPIC_SETTINGS: TopicSettings = { partitions: 6, replicationFactor: 1 };
