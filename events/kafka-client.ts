import type { LogEntry } from 'kafkajs';
import { Kafka, logLevel } from './kafkajs';
import type { Logger } from '../runtime/log';
import { DEFAULT_TOPIC_SETTINGS, type TopicSettings } from './topics';

/**
 * One kafkajs client configured the dim way: short connection and request timeouts (a
 * broker that does not answer within seconds is treated as down: events go to the outbox)
 * and kafkajs' own logs routed to ours at debug level (dim logs the state changes that
 * matter to an operator itself, once, instead of one line per retry).
 */
export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  log: Logger;
}

export function createKafka(opts: KafkaClientOptions): Kafka {
  const log = opts.log.child({ lib: 'kafkajs' });
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    connectionTimeout: 1500,
    requestTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, log: entry }: LogEntry) => {
        const { message, ...extra } = entry;
        log.debug(message, { namespace, ...extra });
      },
  });
}

/** One attempt at reaching the brokers (start-up waits on it): connect, read the cluster. */
export async function checkKafka(kafka: Kafka): Promise<void> {
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Creates the topics that are missing with `settings`, then returns how many partitions
 * each has; rejects when the metadata cannot be read (Kafka is then treated as
 * unreachable). A topic that exists keeps its partitions: adding some would move keys to
 * other partitions, so dim warns instead (kafka-topics.sh --alter adds them).
 */
export async function topicPartitions(
  kafka: Kafka,
  topics: string[],
  log: Logger,
  settings: TopicSettings = DEFAULT_TOPIC_SETTINGS,
): Promise<Map<string, number>> {
  const admin = kafka.admin({ retry: { retries: 1 } });
  try {
    await admin.connect();
    try {
      await admin.createTopics({
        topics: topics.map((topic) => ({
          topic,
          numPartitions: settings.partitions,
          replicationFactor: settings.replicationFactor,
        })),
        waitForLeaders: true,
      });
    } catch (err) {
      log.debug('could not create topics (they may exist already)', {
        topics,
        err: (err as Error).message,
      });
    }
    const meta = await admin.fetchTopicMetadata({ topics });
    const counts = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
    for (const [topic, partitions] of counts) {
      if (partitions < settings.partitions) {
        log.warn('a topic has fewer partitions than configured; dim leaves it as it is', {
          topic,
          partitions,
          configured: settings.partitions,
        });
      }
    }
    return counts;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Like topicPartitions, for callers that go on when Kafka does not answer (their next call retries). */
export async function ensureTopics(
  kafka: Kafka,
  topics: string[],
  log: Logger,
  settings?: TopicSettings,
): Promise<void> {
  try {
    await topicPartitions(kafka, topics, log, settings);
  } catch (err) {
    log.debug('could not create or describe topics', { topics, err: (err as Error).message });
  }
}

/** Resolves or rejects like `p`, or rejects after `ms`; `p` keeps running (its outcome is ignored). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
