import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDatabase, type OpenedDb } from '../../store/db';
import { freePort, spawnDim, tempDir } from '../support/dim-process';
import { openTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import {
  counted,
  createDatasets,
  deleteTopics,
  kafkaClient,
  plainProducer,
  uniquePrefix,
  waitFor,
  waitForCount,
} from '../support/telemetry';

/**
 * Start-up that waits (runtime/startup.ts), with the real binary (dist/, `npm run build`):
 * `dim worker`, `dim api` and `dim bridge` started while nothing listens at their Temporal or
 * Kafka address (a free port) stay up, log each attempt and answer /health 503 naming what
 * they wait for; then a TCP proxy to the real server (dev/services' 127.0.0.1:7233 or 9092)
 * opens at that address, /health turns 200, and the parts do their work: a migration runs,
 * an event is counted. SIGTERM during the wait exits 0; DIM_STARTUP_TIMEOUT_S ends it with
 * one line.
 */
jest.setTimeout(240_000);

type Spawned = ReturnType<typeof spawnDim>;

async function health(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const res = await fetch(`${url}/health`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch {
    return { status: 0, body: {} };
  }
}

/** Polls /health until it says the process waits for `dep` and has tried at least twice. */
async function waitingFor(url: string, dep: string, p: Spawned) {
  let last: Awaited<ReturnType<typeof health>> | undefined;
  await waitFor(
    `${url}/health to name ${dep} after two attempts`,
    async () => {
      last = await health(url);
      const waits = last.body.waits as Record<string, { attempts: number }> | undefined;
      return last.status === 503 && (waits?.[dep]?.attempts ?? 0) >= 2;
    },
    60_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last ${JSON.stringify(last)}; stderr:\n${p.stderr()}`);
  });
  return last!;
}

async function healthy(url: string, p: Spawned) {
  await waitFor(
    `${url}/health to answer 200`,
    async () => (await health(url)).status === 200,
    90_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; stderr:\n${p.stderr()}`);
  });
}

async function stop(p: Spawned | undefined) {
  if (!p || p.child.exitCode !== null) return;
  p.child.kill('SIGTERM');
  await p.exited;
}

describe('a worker and an API started before Temporal', () => {
  let worker: Spawned | undefined;
  let api: Spawned | undefined;
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await Promise.all([stop(worker), stop(api)]);
    await proxy?.close();
  });

  it('wait for it, say so on /health, then come up and run a migration', async () => {
    const dataDir = tempDir('startup-temporal');
    const src = path.join(dataDir, 'storage', 'src');
    mkdirSync(src, { recursive: true });
    const payload = randomBytes(200_000);
    writeFileSync(path.join(src, 'a.bin'), payload);
    const temporalPort = await freePort();
    const apiUrl = `http://127.0.0.1:${await freePort()}`;
    const workerUrl = `http://127.0.0.1:${await freePort()}`;
    const env = {
      DIM_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      // Its own task queue: other checkouts' workers share this Temporal server.
      DIM_TASK_QUEUE: `startup-${randomUUID()}`,
      DIM_SWEEP_INTERVAL_S: '0',
      DIM_API_PORT: new URL(apiUrl).port,
      DIM_WORKER_PORT: new URL(workerUrl).port,
    };
    worker = spawnDim('worker', env);
    api = spawnDim('api', env);

    const w = await waitingFor(workerUrl, 'temporal', worker);
    expect(w.body).toMatchObject({
      status: 'starting',
      waiting_for: ['temporal'],
      waits: { temporal: { address: `127.0.0.1:${temporalPort}` } },
    });
    expect(String((w.body.waits as Record<string, { error: string }>).temporal?.error)).toMatch(
      /refused/i,
    );
    const a = await waitingFor(apiUrl, 'temporal', api);
    expect(a.body).toMatchObject({ status: 'starting', waiting_for: ['temporal'] });
    expect(worker.child.exitCode).toBeNull();
    expect(api.child.exitCode).toBeNull();
    expect(worker.stderr()).toContain(
      `waiting for temporal at 127.0.0.1:${temporalPort} (attempt 1, next in `,
    );
    // The API's routes answer while it waits: a dataset can be registered already.
    const created = await fetch(`${apiUrl}/datasets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: `startup-${randomUUID().slice(0, 8)}`,
        path_uri: `file://${src}`,
      }),
    });
    expect(created.status).toBe(201);
    const dataset = (await created.json()) as { id: number };

    // Temporal appears at the address.
    proxy = await openTcpProxy(temporalPort, { host: '127.0.0.1', port: 7233 });
    await healthy(workerUrl, worker);
    await healthy(apiUrl, api);
    expect(await worker.ready).toMatchObject({ worker: workerUrl });
    expect(await api.ready).toMatchObject({ api: apiUrl });
    expect((await health(workerUrl)).body).toEqual({ status: 'ok', worker: 'running' });

    const dest = path.join(dataDir, 'storage', 'dst');
    const planned = await fetch(`${apiUrl}/plan-migration`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        dataset_id: dataset.id,
        target_location: `file://${dest}`,
        storage_class: 'standard',
      }),
    });
    expect(planned.status).toBeLessThan(300);
    const { job_id } = (await planned.json()) as { job_id: string };
    let status = '';
    await waitFor(
      'the migration to complete',
      async () => {
        const job = (await (await fetch(`${apiUrl}/jobs/${job_id}`)).json()) as { status: string };
        status = job.status;
        return ['completed', 'failed', 'cancelled'].includes(status);
      },
      120_000,
      250,
    );
    expect(status).toBe('completed');
    expect(readFileSync(path.join(dest, 'a.bin')).equals(payload)).toBe(true);
    expect(proxy.connections()).toBeGreaterThan(0);
  });
});

describe('a bridge started before Kafka', () => {
  const prefix = uniquePrefix('startup');
  const kafka = kafkaClient();
  let bridge: Spawned | undefined;
  let proxy: TcpProxy | undefined;
  let store: OpenedDb | undefined;
  afterAll(async () => {
    await stop(bridge);
    await proxy?.close();
    await store?.close();
    await deleteTopics(kafka, prefix);
  });

  it('waits for it, says so on /health, then comes up and counts an event', async () => {
    const dataDir = tempDir('startup-kafka');
    store = await openDatabase(path.join(dataDir, 'dim.db'));
    const [id] = await createDatasets(store, 1);
    const kafkaPort = await freePort();
    const bridgeUrl = `http://127.0.0.1:${await freePort()}`;
    bridge = spawnDim('bridge', {
      DIM_DATA_DIR: dataDir,
      KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
      DIM_TOPIC_PREFIX: prefix,
      DIM_BRIDGE_GROUP: `${prefix}bridge`,
      DIM_BRIDGE_PORT: new URL(bridgeUrl).port,
    });
    const waiting = await waitingFor(bridgeUrl, 'kafka', bridge);
    expect(waiting.body).toMatchObject({
      status: 'starting',
      waiting_for: ['kafka'],
      waits: { kafka: { address: `127.0.0.1:${kafkaPort}` } },
    });
    expect(bridge.child.exitCode).toBeNull();
    expect(bridge.stderr()).toContain(
      `waiting for kafka at 127.0.0.1:${kafkaPort} (attempt 1, next in `,
    );

    proxy = await openTcpProxy(kafkaPort, { host: '127.0.0.1', port: 9092 });
    await healthy(bridgeUrl, bridge);
    expect(await bridge.ready).toMatchObject({ bridge: bridgeUrl });
    expect((await health(bridgeUrl)).body).toEqual({ status: 'ok', bridge: 'kafka' });

    const producer = await plainProducer(kafka);
    try {
      const event = {
        dataset_id: id,
        op: 'read',
        size_bytes: 4096,
        client_lat_ms: 3,
        ts: Date.now(),
      };
      await producer.send({
        topic: `${prefix}access_events`,
        messages: [{ key: String(id), value: JSON.stringify(event) }],
      });
    } finally {
      await producer.disconnect();
    }
    await waitForCount(store, 1, 90_000);
    expect(counted(store)).toEqual({ totals: 1, buckets: 1 });
  });
});

describe('a process still waiting', () => {
  it('stops cleanly on SIGTERM (exit 0, no error line)', async () => {
    const workerUrl = `http://127.0.0.1:${await freePort()}`;
    const p = spawnDim('worker', {
      DIM_DATA_DIR: tempDir('startup-term'),
      TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
      DIM_WORKER_PORT: new URL(workerUrl).port,
    });
    try {
      await waitingFor(workerUrl, 'temporal', p);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(p.stderr()).not.toMatch(/^dim: /m);
    } finally {
      await stop(p);
    }
  });

  it('gives up after DIM_STARTUP_TIMEOUT_S with one line naming the dependency and what to do', async () => {
    const temporal = `127.0.0.1:${await freePort()}`;
    const p = spawnDim('worker', {
      DIM_DATA_DIR: tempDir('startup-timeout'),
      TEMPORAL_ADDRESS: temporal,
      DIM_WORKER_PORT: String(await freePort()),
      DIM_STARTUP_TIMEOUT_S: '2',
    });
    expect(await p.exited).toBe(1);
    const errors = p
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('dim: '));
    expect(errors).toEqual([
      expect.stringMatching(
        new RegExp(
          `^dim: temporal at ${temporal.replace(/\./g, '\\.')} did not answer within 2 s \\(DIM_STARTUP_TIMEOUT_S; last error: .+\\): start Temporal at .+ or point TEMPORAL_ADDRESS at it`,
        ),
      ),
    ]);
  });
});
