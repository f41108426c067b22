import path from 'node:path';
import { silentLogger } from '../runtime/log';
import type { OpenedDb } from '../store/db';
import { freePort, tempDir } from '../test/support/dim-process';
import { openTestStore } from '../test/support/store';
import { KafkaEventSink } from './kafka';
import { eventIdKeyOf } from './message-id';

/**
 * The Kafka sink with no broker behind the address (a port nothing listens on): events
 * are kept in the outbox with their ids, bounded. The round trip through a real broker,
 * outage included, is in test/integration/telemetry-kafka.test.ts. On the project's backend:
 * the outbox is SQLite's or PostgreSQL's (events/outbox-pg.ts).
 */
describe('KafkaEventSink when Kafka is unreachable', () => {
  let store: OpenedDb;
  let sink: KafkaEventSink;
  const ev = { dataset_id: 1, op: 'read', size_bytes: 1, client_lat_ms: 1, ts: Date.now() };
  const rows = () =>
    store.db
      .selectFrom('event_outbox')
      .select(['topic', 'key', 'value', 'msg_id'])
      .orderBy('seq')
      .execute();

  beforeAll(async () => {
    store = await openTestStore(path.join(tempDir('kafka-sink'), 'dim.db'));
    sink = await KafkaEventSink.open({
      brokers: [`127.0.0.1:${await freePort()}`],
      clientId: 'dim-test',
      topicPrefix: 'unit.',
      bufferMax: 1000,
      outbox: store.backend.outbox,
      idKey: await eventIdKeyOf(undefined, store.db),
      log: silentLogger,
      sendTimeoutMs: 300,
      relayIntervalMs: 60_000,
    });
  });
  afterAll(async () => {
    await sink.close();
    await store.close();
  });

  it('keeps published events in the outbox, numbered, and says so in health', async () => {
    await Promise.all([
      sink.publish('access_events', [
        { key: '1', value: ev },
        { key: '2', value: { ...ev, dataset_id: 2 } },
      ]),
      sink.publish('migration_status', [{ key: '7', value: { job_id: 'j', status: 'copying' } }]),
    ]);
    const kept = await rows();
    expect(kept.map((r) => [r.topic, r.key])).toEqual([
      ['unit.access_events', '1'],
      ['unit.access_events', '2'],
      ['unit.migration_status', '7'],
    ]);
    expect(JSON.parse(kept[0]!.value)).toEqual(ev);
    const ids = kept.map((r) => r.msg_id);
    const source = ids[0]!.split(':')[0];
    expect(ids).toEqual([`${source}:1`, `${source}:2`, `${source}:3`]);
    expect(sink.state()).toMatchObject({ mode: 'buffering', buffered: 3 });
    await expect(sink.health()).rejects.toThrow(/Kafka unreachable since .* 3 events buffered/);
    // Later publishes go straight to the outbox, in order.
    await sink.publish('access_events', [{ key: '3', value: ev }]);
    expect((await rows()).at(-1)!.msg_id).toBe(`${source}:4`);
  });

  it('is bounded: past the limit, a 503 with Retry-After, and nothing kept', async () => {
    const many = Array.from({ length: 996 }, () => ({ key: '1', value: ev }));
    await sink.publish('access_events', many);
    expect(await rows()).toHaveLength(1000);
    await expect(sink.publish('access_events', [{ key: '1', value: ev }])).rejects.toMatchObject({
      status: 503,
      code: 'unavailable',
      extra: { retryAfterS: 30 },
    });
    expect(await rows()).toHaveLength(1000);
  });

  it('a new sink on the same database starts buffering (the outbox is not empty)', async () => {
    const again = await KafkaEventSink.open({
      brokers: ['127.0.0.1:1'],
      clientId: 'dim-test',
      topicPrefix: 'unit.',
      bufferMax: 2000,
      outbox: store.backend.outbox,
      idKey: await eventIdKeyOf(undefined, store.db),
      log: silentLogger,
      sendTimeoutMs: 300,
      relayIntervalMs: 60_000,
    });
    expect(again.state().mode).toBe('buffering');
    await again.publish('access_events', [{ key: '1', value: ev }]);
    expect(await rows()).toHaveLength(1001);
    await again.close();
  });
});
