import path from 'node:path';
import { LocalLogSink } from '../../events/local-log';
import { openDatabase } from '../../store/db';
import { freePort, startDim, tempDir, type DimProcess } from '../support/dim-process';
import {
  actualSums,
  counted,
  createDatasets,
  eventAt,
  expectedSums,
  ingestUntilKilled,
  post,
  uniquePrefix,
  waitFor,
  waitForCount,
} from '../support/telemetry';
import { startStack, type Stack } from '../support/telemetry-stack';

/**
 * The same telemetry path without Kafka: the durable local log (`event_log`) and the
 * bridge reading it. Exact counts through HTTP, across kill -9 of the bridge, and no
 * accepted event lost when the API itself is killed mid-ingestion.
 */
const N = 100_000;

describe('telemetry through the local log (no Kafka)', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('counts 100,000 events sent as HTTP batches exactly, and empties the log', async () => {
    stack = await startStack({ prefix: '', kafka: false, bridge: true });
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
    await Promise.all([0, 1, 2, 3].map((k) => sendRange((k * N) / 4, ((k + 1) * N) / 4)));
    await waitForCount(s.store, N);
    expect(counted(s.store)).toEqual({ totals: N, buckets: N });
    expect(actualSums(s.store)).toEqual(expectedSums(0, N, s.ids));
    await waitFor(
      'the log to be pruned',
      () =>
        (s.store.sqlite.prepare('select count(*) as n from event_log').get() as { n: number }).n ===
        0,
      10_000,
    );
  }, 120_000);

  it("dim up runs the bridge: the prototype's event shows in the dataset's usage", async () => {
    const port = await freePort();
    const dim = await startDim('up', {
      DIM_DATA_DIR: tempDir('local-up'),
      DIM_API_PORT: String(port),
      DIM_WORKER_PORT: String(await freePort()),
      DIM_TEMPORAL_PORT: String(await freePort()),
      DIM_TEMPORAL_UI_PORT: String(await freePort()),
    });
    try {
      const url = `http://127.0.0.1:${port}`;
      const created = await post(`${url}/datasets`, {
        name: 'sample',
        path_uri: 'file:///shared_storage/sample',
        size_bytes: 1048576,
      });
      expect(created.status).toBe(201);
      const id = (JSON.parse(created.text) as { id: number }).id;
      const sent = await post(`${url}/access-events`, {
        dataset_id: id,
        op: 'read',
        size_bytes: 4096,
        client_lat_ms: 12.3,
      });
      expect(sent).toEqual({ status: 202, text: '{"accepted":1}' });
      let usage: Record<string, unknown> = {};
      await waitFor('the usage', async () => {
        const d = (await (await fetch(`${url}/datasets/${id}`)).json()) as {
          usage: Record<string, unknown>;
        };
        usage = d.usage;
        return d.usage.read_count === 1;
      });
      expect(usage).toEqual({
        read_count: 1,
        write_count: 0,
        bytes_read: 4096,
        bytes_written: 0,
        last_access_ts: expect.any(String),
        mean_client_lat_ms: 12.3,
      });
      const health = (await (await fetch(`${url}/health`)).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ status: 'ok', events: 'ok' });
    } finally {
      dim.child.kill('SIGINT');
    }
    expect(await dim.exited).toBe(0);
  }, 120_000);

  it('counts exactly across kill -9 of the bridge process mid-stream', async () => {
    const dataDir = tempDir('local-crash');
    const store = await openDatabase(path.join(dataDir, 'dim.db'));
    const ids = await createDatasets(store, 20);
    const sink = new LocalLogSink({ sqlite: store.sqlite, topicPrefix: '', bufferMax: 1_000_000 });
    const env = {
      DIM_DATA_DIR: dataDir,
      DIM_LOG_LEVEL: 'warn',
      DIM_BRIDGE_GROUP: uniquePrefix('g'),
    };
    const ts = Date.now() - 60_000;
    // The test appends (as the API would) while the bridge is killed and restarted.
    const appending = (async () => {
      for (let i = 0; i < N; i += 2000) {
        const messages = Array.from({ length: 2000 }, (_, j) => {
          const e = eventAt(i + j, ids, ts);
          return { key: String(e.dataset_id), value: e };
        });
        await sink.publish('access_events', messages);
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    let child: DimProcess | undefined;
    try {
      for (const at of [20_000, 50_000]) {
        child = await startDim('bridge', env);
        await waitFor(`${at} counted`, () => counted(store).totals >= at, 60_000, 10);
        child.child.kill('SIGKILL');
        await child.exited;
        child = undefined;
      }
      await appending;
      expect(counted(store).totals).toBeLessThan(N);
      child = await startDim('bridge', env);
      await waitForCount(store, N, 60_000);
      expect(counted(store)).toEqual({ totals: N, buckets: N });
      expect(actualSums(store)).toEqual(expectedSums(0, N, ids));
    } finally {
      child?.child.kill('SIGKILL');
      await appending.catch(() => undefined);
      await sink.close();
      await store.close();
    }
  }, 240_000);

  it('loses no accepted event when the API is killed with -9 mid-ingestion', async () => {
    const dataDir = tempDir('local-api-crash');
    const store = await openDatabase(path.join(dataDir, 'dim.db'));
    const ids = await createDatasets(store, 20);
    const port = await freePort();
    const api = await startDim('api', {
      DIM_DATA_DIR: dataDir,
      DIM_API_PORT: String(port),
      DIM_LOG_LEVEL: 'warn',
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
    });
    const url = `http://127.0.0.1:${port}`;
    const batch = 1000;
    const { accepted, unanswered } = await ingestUntilKilled({
      url,
      ids: ids,
      ts: Date.now() - 60_000,
      batch,
      killAt: 30_000,
      kill: () => api.child.kill('SIGKILL'),
    });
    await api.exited;
    // Now a bridge aggregates whatever the API committed.
    const bridge = await startDim('bridge', { DIM_DATA_DIR: dataDir, DIM_LOG_LEVEL: 'warn' });
    try {
      await waitFor('accepted events counted', () => counted(store).totals >= accepted, 60_000);
      await new Promise((r) => setTimeout(r, 1500));
      const total = counted(store).totals;
      // Every accepted event counts; a batch whose answer was lost counts whole or not at all.
      expect(total).toBeGreaterThanOrEqual(accepted);
      expect(total).toBeLessThanOrEqual(accepted + unanswered * batch);
      expect(total % batch).toBe(0);
      expect(counted(store).buckets).toBe(total);
    } finally {
      bridge.child.kill('SIGKILL');
      await store.close();
    }
  }, 240_000);
});
