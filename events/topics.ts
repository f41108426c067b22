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
