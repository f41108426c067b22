import { freePort, startDim, type DimProcess } from '../support/dim-process';
import {
  actualSums,
  BROKERS,
  counted,
  createTopic,
  deleteTopics,
  eventAt,
  expectedSums,
  kafkaClient,
  plainProducer,
  ingestUntilKilled,
  post,
  produceEvents,
  services,
  signedIdHeader,
  uniquePrefix,
  waitFor,
  waitForCount,
} from '../support/telemetry';
import { startStack, type Stack } from '../support/telemetry-stack';

/**
 * Access telemetry through real Kafka (dev/services, 127.0.0.1:9092): HTTP → topic →
 * bridge → aggregates, events produced straight to the topic, a bridge killed with -9,
 * and Kafka itself stopped during ingestion. Each test has its own topics (a unique
 * prefix), consumer group and database. Counts must be exact (invariants 5 and 8).
 */
const N = 100_000;
const kafka = kafkaClient();

/** The first `dim-id` header dim put in each of these partitions, read off the topic as anyone could. */
async function firstHeaders(topic: string, partitions: Set<number>): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  const consumer = kafka.consumer({ groupId: `${topic}-reader`, sessionTimeout: 10_000 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        const h = message.headers?.['dim-id'];
        if (h !== undefined && !found.has(partition)) found.set(partition, h.toString());
        return Promise.resolve();
      },
    });
    await waitFor('dim headers on the topic', () => found.size === partitions.size, 30_000);
  } finally {
    await consumer.disconnect();
  }
  return found;
}

function expectExact(stack: Stack, from: number, to: number) {
  expect(counted(stack.store)).toEqual({ totals: to - from, buckets: to - from });
  expect(actualSums(stack.store)).toEqual(expectedSums(from, to, stack.ids));
}

describe('telemetry through Kafka', () => {
  const prefixes: string[] = [];
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });
  afterAll(async () => {
    for (const p of prefixes) await deleteTopics(kafka, p);
  });
  const prefix = (what: string) => {
    const p = uniquePrefix(what);
    prefixes.push(p);
    return p;
  };

  it('counts 100,000 events sent as HTTP batches exactly', async () => {
    stack = await startStack({ prefix: prefix('http'), kafka: true, bridge: true });
    const s = stack;
    const ts = Date.now() - 60_000;
    const batch = 5000;
    const sendRange = async (from: number, to: number) => {
      for (let i = from; i < to; i += batch) {
        const events = Array.from({ length: batch }, (_, j) => eventAt(i + j, s.ids, ts));
        const res = await post(`${s.url}/access-events`, events);
        expect(res).toEqual({ status: 202, text: JSON.stringify({ accepted: batch }) });
      }
    };
    // Four clients at once.
    await Promise.all([0, 1, 2, 3].map((k) => sendRange((k * N) / 4, ((k + 1) * N) / 4)));
    await waitForCount(s.store, N);
    expectExact(s, 0, N);
    const last = s.store.sqlite
      .prepare('select count(*) as n from datasets where last_access_ts >= ?')
      .get(ts) as { n: number };
    expect(last.n).toBe(s.ids.length);
    expect(s.bridge!.stats()).toMatchObject({ applied: N, skipped: 0, deadLettered: 0 });
  }, 180_000);

  it('counts an idempotent request once when it runs again after the API died before answering', async () => {
    stack = await startStack({ prefix: prefix('idem'), kafka: true, bridge: true });
    const s = stack;
    const ts = Date.now() - 60_000;
    const M = 3000;
    const events = Array.from({ length: M }, (_, i) => eventAt(i, s.ids, ts));
    const send = (key: string) =>
      fetch(`${s.url}/access-events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(events),
      });
    expect((await send('batch-1')).status).toBe(202);
    // As if the process had died after publishing, before recording the answer: the claim
    // is left unanswered and old enough for the client's retry to take it over.
    await s.store.db
      .updateTable('idempotency_keys')
      .set({ status: null, body: null, created_at: Date.now() - 120_000 })
      .where('key', '=', 'batch-1')
      .execute();
    const retried = await send('batch-1');
    expect(retried.status).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull(); // it did publish again
    await waitForCount(s.store, M);
    expectExact(s, 0, M);
    expect(s.bridge!.stats()).toMatchObject({ applied: M, skipped: M });
    // Another key is another request: the same events count again.
    expect((await send('batch-2')).status).toBe(202);
    await waitForCount(s.store, 2 * M);
    expect(counted(s.store)).toEqual({ totals: 2 * M, buckets: 2 * M });
  }, 120_000);

  it('counts 100,000 events produced straight to the topic, and sets aside malformed ones', async () => {
    const p = prefix('direct');
    const topic = `${p}access_events`;
    await createTopic(kafka, topic);
    stack = await startStack({ prefix: p, kafka: true, bridge: true });
    const s = stack;
    const producer = await plainProducer(kafka);
    try {
      const ts = Date.now() - 60_000;
      await produceEvents(producer, topic, 0, N / 2, s.ids, ts);
      const ok = eventAt(0, s.ids, ts);
      await producer.send({
        topic,
        messages: [
          ...Array.from({ length: 20 }, (_, i) => ({ key: '1', value: `{"dataset_id": ${i},` })),
          ...Array.from({ length: 20 }, () => ({
            key: '999',
            value: JSON.stringify({ ...ok, dataset_id: 999_999 }),
          })),
          ...Array.from({ length: 10 }, () => ({
            key: '1',
            value: JSON.stringify({ ...ok, op: 'delete' }),
          })),
          { key: '1', value: null },
        ],
      });
      await produceEvents(producer, topic, N / 2, N, s.ids, ts);
    } finally {
      await producer.disconnect();
    }
    await waitForCount(s.store, N);
    expectExact(s, 0, N);
    await waitFor('dead letters', () => s.bridge!.stats().deadLettered === 51, 10_000);
    const dead = s.store.sqlite
      .prepare('select error, count(*) as n from dead_letters group by substr(error, 1, 12)')
      .all() as Array<{ error: string; n: number }>;
    expect(dead.map((d) => d.n).sort((a, b) => a - b)).toEqual([1, 10, 20, 20]);
    expect(dead.map((d) => d.error).join('\n')).toMatch(/not valid JSON/);
    expect(dead.map((d) => d.error).join('\n')).toMatch(/dataset 999999 does not exist/);
  }, 180_000);

  it('counts exactly across kill -9 of the bridge process mid-stream', async () => {
    const p = prefix('crash');
    const topic = `${p}access_events`;
    await createTopic(kafka, topic);
    // The API side is not used here: the test produces, a `dim bridge` child consumes.
    stack = await startStack({ prefix: p, kafka: true, bridge: false });
    const s = stack;
    const env = {
      DIM_DATA_DIR: s.dataDir,
      KAFKA_BROKERS: BROKERS.join(','),
      DIM_TOPIC_PREFIX: p,
      DIM_BRIDGE_GROUP: `${p}bridge`,
      DIM_LOG_LEVEL: 'warn',
      DIM_API_PORT: '1', // unused by `dim bridge`
    };
    const producer = await plainProducer(kafka);
    const ts = Date.now() - 60_000;
    // Production keeps going while the bridge is killed and restarted.
    const producing = (async () => {
      for (let i = 0; i < N; i += 10_000) {
        await produceEvents(producer, topic, i, i + 10_000, s.ids, ts);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    let child: DimProcess | undefined;
    try {
      for (const at of [15_000, 55_000]) {
        child = await startDim('bridge', env);
        await waitFor(`${at} counted`, () => counted(s.store).totals >= at, 90_000, 20);
        child.child.kill('SIGKILL');
        await child.exited;
        child = undefined;
      }
      const before = counted(s.store).totals;
      expect(before).toBeLessThan(N);
      await producing;
      child = await startDim('bridge', env);
      await waitForCount(s.store, N, 120_000);
      expectExact(s, 0, N);
    } finally {
      child?.child.kill('SIGKILL');
      await producing.catch(() => undefined);
      await producer.disconnect();
    }
  }, 300_000);

  it('loses no accepted event when the API is killed with -9 mid-ingestion', async () => {
    const p = prefix('api-crash');
    await createTopic(kafka, `${p}access_events`);
    stack = await startStack({ prefix: p, kafka: true, bridge: false });
    const s = stack;
    const port = await freePort();
    const env = {
      DIM_DATA_DIR: s.dataDir,
      DIM_API_PORT: String(port),
      KAFKA_BROKERS: BROKERS.join(','),
      DIM_TOPIC_PREFIX: p,
      DIM_BRIDGE_GROUP: `${p}bridge`,
      DIM_LOG_LEVEL: 'warn',
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
    };
    const api = await startDim('api', env);
    const url = `http://127.0.0.1:${port}`;
    const batch = 1000;
    const { accepted, unanswered } = await ingestUntilKilled({
      url,
      ids: s.ids,
      ts: Date.now() - 60_000,
      batch,
      killAt: 20_000,
      kill: () => api.child.kill('SIGKILL'),
    });
    await api.exited;
    // A 202 meant Kafka acknowledged the batch (or the outbox held it): a bridge counts it.
    const bridge = await startDim('bridge', env);
    try {
      await waitFor('accepted events counted', () => counted(s.store).totals >= accepted, 90_000);
      await new Promise((r) => setTimeout(r, 1500));
      const total = counted(s.store).totals;
      expect(total).toBeGreaterThanOrEqual(accepted);
      // An unanswered batch may have landed in part (one produce request spans partitions).
      expect(total).toBeLessThanOrEqual(accepted + unanswered * batch);
      expect(counted(s.store).buckets).toBe(total);
    } finally {
      bridge.child.kill('SIGKILL');
    }
  }, 240_000);

  it('counts a message re-sent after an ambiguous failure once (ids survive the outbox)', async () => {
    const p = prefix('resend');
    const topic = `${p}access_events`;
    await createTopic(kafka, topic);
    stack = await startStack({ prefix: p, kafka: true, bridge: true });
    const s = stack;
    const ts = Date.now() - 60_000;
    const n = 1000;
    // The originals, as a sink sends them: explicit partition, one signed header per run.
    const producer = await plainProducer(kafka);
    try {
      const values = Array.from({ length: n }, (_, i) => JSON.stringify(eventAt(i, s.ids, ts)));
      const header = signedIdHeader(s.store, topic, 0, 'lost', 1, values);
      await producer.send({
        topic,
        messages: values.map((value, i) => ({
          key: String(eventAt(i, s.ids, ts).dataset_id),
          value,
          partition: 0,
          headers: i === 0 ? { 'dim-id': header } : undefined,
        })),
      });
    } finally {
      await producer.disconnect();
    }
    await waitForCount(s.store, n);
    // The same messages were also kept in the outbox (the sender never saw the ack), plus
    // 200 that did not land: 100 more in partition 0, 100 that were meant for partition 1.
    const insert = s.store.sqlite.prepare(
      'insert into event_outbox (topic, key, value, ts, msg_id, partition) values (?, ?, ?, ?, ?, ?)',
    );
    s.store.sqlite.transaction(() => {
      for (let i = 0; i < n + 100; i++) {
        const e = eventAt(i, s.ids, ts);
        insert.run(topic, String(e.dataset_id), JSON.stringify(e), Date.now(), `lost:${i + 1}`, 0);
      }
      for (let i = n + 100; i < n + 200; i++) {
        const e = eventAt(i, s.ids, ts);
        insert.run(
          topic,
          String(e.dataset_id),
          JSON.stringify(e),
          Date.now(),
          `lost:${i - n - 99}`,
          1,
        );
      }
    })();
    await waitFor('the relay', () => s.kafkaSink!.state().relayed === n + 200, 30_000);
    await waitForCount(s.store, n + 200);
    expectExact(s, 0, n + 200);
    expect(s.bridge!.stats()).toMatchObject({ applied: n + 200, skipped: n });
  }, 120_000);

  it('a forged dim-id from a raw producer silences no genuine event, and counts once itself', async () => {
    const p = prefix('forged');
    const topic = `${p}access_events`;
    await createTopic(kafka, topic);
    stack = await startStack({ prefix: p, kafka: true, bridge: true });
    const s = stack;
    const ts = Date.now() - 60_000;
    const G = 2000;
    const postRange = async (from: number, to: number) => {
      for (let i = from; i < to; i += 500) {
        const events = Array.from({ length: 500 }, (_, j) => eventAt(i + j, s.ids, ts));
        expect((await post(`${s.url}/access-events`, events)).status).toBe(202);
      }
    };
    await postRange(0, G);
    await waitForCount(s.store, G);
    // What anyone who can read the topic learns: dim's sources, and its headers.
    const marks = s.store.sqlite
      .prepare('select partition, source, last_n from source_marks')
      .all() as Array<{ partition: number; source: string; last_n: number }>;
    expect(marks.length).toBeGreaterThan(0);
    const seen = await firstHeaders(topic, new Set(marks.map((m) => m.partition)));

    // The attacker's producer: huge numbers under dim's own sources, in every partition,
    // unsigned, with a made-up MAC, and dim's real headers replayed on other values
    // followed by more records.
    const forged: Array<{ partition: number; header?: string }> = [];
    for (const m of marks) {
      forged.push({ partition: m.partition, header: `${m.source}:1000000000` });
      forged.push({
        partition: m.partition,
        header: `${m.source}:1000000000:1:${Buffer.alloc(32, 7).toString('base64url')}`,
      });
    }
    for (const [partition, header] of seen) {
      forged.push({ partition, header });
      for (let i = 0; i < 20; i++) forged.push({ partition });
    }
    const F = forged.length;
    const producer = await plainProducer(kafka);
    try {
      await producer.send({
        topic,
        messages: forged.map((f, i) => {
          const e = eventAt(G + i, s.ids, ts);
          return {
            key: String(e.dataset_id),
            value: JSON.stringify(e),
            partition: f.partition,
            headers: f.header === undefined ? undefined : { 'dim-id': f.header },
          };
        }),
      });
    } finally {
      await producer.disconnect();
    }
    // dim's events after the forgeries: every one still counts.
    await postRange(G + F, 2 * G + F);
    await waitForCount(s.store, 2 * G + F);
    expectExact(s, 0, 2 * G + F);
    const highest = s.store.sqlite.prepare('select max(last_n) as n from source_marks').get() as {
      n: number;
    };
    expect(highest.n).toBeLessThanOrEqual(2 * G);
    expect(s.bridge!.stats()).toMatchObject({ skipped: 0, deadLettered: 0 });
    expect(s.bridge!.stats().unverified).toBe(2 * marks.length + seen.size);
  }, 180_000);

  it('loses nothing when Kafka is stopped during ingestion and started again', async () => {
    stack = await startStack({ prefix: prefix('outage'), kafka: true, bridge: true });
    const s = stack;
    const sink = s.kafkaSink!;
    const ts = Date.now() - 60_000;
    const batch = 1000;
    let next = 0;
    const send = async (until: number) => {
      for (; next < until; next += batch) {
        const events = Array.from({ length: batch }, (_, j) => eventAt(next + j, s.ids, ts));
        const res = await post(`${s.url}/access-events`, events);
        // Every batch is accepted: by Kafka, or by the outbox while Kafka is away.
        expect(res.status).toBe(202);
      }
    };
    try {
      await send(20_000);
      // Keep posting while Kafka shuts down.
      const stopping = services('stop', 'kafka');
      let sentDuringStop = 0;
      while (
        !(await Promise.race([
          stopping.then(() => true),
          new Promise((r) => setTimeout(r, 50, false)),
        ]))
      ) {
        if (next < 40_000) {
          await send(next + batch);
          sentDuringStop += batch;
        }
      }
      await stopping;
      await send(70_000); // Kafka is down: all of these wait in the outbox
      await waitFor('the sink to notice', () => sink.state().mode === 'buffering', 30_000);
      expect(sink.state().buffered).toBeGreaterThan(0);
      await services('start', 'kafka');
      await send(N);
      await waitFor('the outbox to drain', () => sink.state().mode === 'direct', 120_000, 200);
      expect(sink.state()).toMatchObject({ buffered: 0 });
      // At least what was posted while Kafka was down went through the outbox.
      expect(sink.state().relayed).toBeGreaterThanOrEqual(70_000 - 40_000);
      await waitForCount(s.store, N, 120_000);
      expectExact(s, 0, N);
      expect(sentDuringStop).toBeGreaterThan(0);
    } finally {
      // Other tests (and other engineers) need Kafka: make sure it is up again.
      await services('start', 'kafka');
    }
  }, 300_000);
});
