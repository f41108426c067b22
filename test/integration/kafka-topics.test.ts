import { randomUUID } from 'node:crypto';
import { createKafka, topicPartitions } from '../../events/kafka-client';
import { createLogger, silentLogger } from '../../runtime/log';

/**
 * dim creates its topics on the real broker with the configured partitions and
 * replication (DIM_KAFKA_PARTITIONS, default 6, so several bridges of one consumer group
 * share `access_events`); a topic that exists keeps its partitions, and dim says so.
 */
const kafka = createKafka({
  brokers: ['127.0.0.1:9092'],
  clientId: 'dim-test-topics',
  log: silentLogger,
});

it('creates missing topics with the configured partitions and leaves existing ones alone, warning', async () => {
  const a = `dim-test-topics-${randomUUID()}`;
  const b = `dim-test-topics-${randomUUID()}`;
  expect(await topicPartitions(kafka, [a], silentLogger)).toEqual(new Map([[a, 6]]));
  expect(
    await topicPartitions(kafka, [b], silentLogger, { partitions: 3, replicationFactor: 1 }),
  ).toEqual(new Map([[b, 3]]));

  const lines: string[] = [];
  const log = createLogger('warn', {}, (l) => lines.push(l));
  expect(
    await topicPartitions(kafka, [a, b], log, { partitions: 6, replicationFactor: 1 }),
  ).toEqual(
    new Map([
      [a, 6],
      [b, 3],
    ]),
  );
  expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
    expect.objectContaining({ level: 'warn', topic: b, partitions: 3, configured: 6 }),
  ]);
});
