import path from 'node:path';
import { KafkaEventSink } from '../../events/kafka';
import { eventIdKeyOf } from '../../events/message-id';
import { silentLogger } from '../../runtime/log';
import type { OpenedDb } from '../../store/db';
import { startBridge, type RunningBridge } from '../../workers/bridge';
import { freePort, tempDir } from '../support/dim-process';
import { openTestStore } from '../support/store';
import {
  BROKERS,
  createDatasets,
  deleteTopics,
  eventAt,
  kafkaClient,
  uniquePrefix,
  waitFor,
} from '../support/telemetry';

/**
 * The Kafka sink's outbox on the project's backend (the integration project: SQLite; the
 * integration-pg project: PostgreSQL, events/outbox-pg.ts), against the real broker:
 * events accepted while Kafka was unreachable are kept in the store; two processes that
 * find them there relay them at the same time, each with the ids the events were first
 * given; the bridge counts every event exactly once.
 */
jest.setTimeout(120_000);

const kafka = kafkaClient();

async function totals(store: OpenedDb): Promise<number> {
  const row = await store.db
    .selectFrom('access_totals')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('read_count'), eb.lit(0)).as('reads'))
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('write_count'), eb.lit(0)).as('writes'))
    .executeTakeFirstOrThrow();
  return Number(row.reads) + Number(row.writes);
}

async function outboxRows(store: OpenedDb): Promise<number> {
  const row = await store.db
    .selectFrom('event_outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('the Kafka outbox on the store', () => {
  const prefix = uniquePrefix('outbox');
  const stores: OpenedDb[] = [];
  const sinks: KafkaEventSink[] = [];
  let bridge: RunningBridge | undefined;
  afterAll(async () => {
    await bridge?.stop();
    for (const s of sinks) await s.close();
    for (const s of stores) await s.close();
    await deleteTopics(kafka, prefix);
  });

  it('relays what was kept while Kafka was down, from two processes at once, counted once', async () => {
    const file = path.join(tempDir('outbox'), 'dim.db');
    // Three handles on one database: as three processes (two APIs and a bridge) would be.
    for (let i = 0; i < 3; i++) stores.push(await openTestStore(file));
    const [a, b, reader] = stores as [OpenedDb, OpenedDb, OpenedDb];
    const ids = await createDatasets(a, 10);
    const idKey = await eventIdKeyOf(undefined, a.db);
    const open = (store: OpenedDb, brokers: string[]) =>
      KafkaEventSink.open({
        brokers,
        clientId: 'dim-test-outbox',
        topicPrefix: prefix,
        bufferMax: 1_000_000,
        outbox: store.backend.outbox,
        idKey,
        log: silentLogger,
        sendTimeoutMs: 500,
        relayIntervalMs: 200,
        maxPerSend: 250,
      });
    const ts = Date.now() - 60_000;
    const events = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, k) => {
        const e = eventAt(from + k, ids, ts);
        return { key: String(e.dataset_id), value: e };
      });

    // Kafka unreachable (nothing listens there): two sinks keep what they accept, concurrently.
    const deadPort = await freePort();
    const down = [
      await open(a, [`127.0.0.1:${deadPort}`]),
      await open(b, [`127.0.0.1:${deadPort}`]),
    ];
    const KEPT = 4000;
    await Promise.all(
      down.map(async (sink, s) => {
        for (let i = s * (KEPT / 2); i < (s + 1) * (KEPT / 2); i += 100)
          await sink.publish('access_events', events(i, i + 100));
      }),
    );
    for (const s of down) await s.close();
    expect(await outboxRows(a)).toBe(KEPT);

    // Kafka back: two new sinks find the rows and both relay them (the same rows, twice at
    // times), while they publish more of their own; one bridge counts.
    const up = [await open(a, BROKERS), await open(b, BROKERS)];
    sinks.push(...up);
    expect(up.map((s) => s.state().mode)).toEqual(['buffering', 'buffering']);
    const MORE = 2000;
    await Promise.all(
      up.map(async (sink, s) => {
        const from = KEPT + s * (MORE / 2);
        for (let i = from; i < from + MORE / 2; i += 100)
          await sink.publish('access_events', events(i, i + 100));
      }),
    );
    bridge = await startBridge({
      store: reader,
      group: `${prefix}bridge`,
      topicPrefix: prefix,
      kafka: { brokers: BROKERS, clientId: 'dim-test-outbox-bridge' },
      log: silentLogger,
    });
    await waitFor('the outbox to drain', async () => (await outboxRows(a)) === 0, 60_000);
    await waitFor('every event counted', async () => (await totals(reader)) >= KEPT + MORE, 60_000);
    await new Promise((r) => setTimeout(r, 1500)); // and not one more
    expect(await totals(reader)).toBe(KEPT + MORE);
    expect(up.map((s) => s.state().mode)).toEqual(['direct', 'direct']);
    const relayed = up.reduce((n, s) => n + s.state().relayed, 0);
    expect(relayed).toBeGreaterThanOrEqual(KEPT); // some rows went out twice: counted once
    expect(bridge.stats().applied).toBe(KEPT + MORE);
  });
});
