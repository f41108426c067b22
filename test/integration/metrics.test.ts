import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../config';
import { freePort, repoRoot, startDim, tempDir, type DimProcess } from '../support/dim-process';
import {
  conventionProblems,
  labelNames,
  labelSets,
  promqlUses,
  scrape,
  seriesNames,
  value,
  type MetricFamily,
  type Scrape,
} from '../support/prometheus';
import {
  createTopic,
  deleteTopics,
  kafkaClient,
  plainProducer,
  uniquePrefix,
  waitFor,
} from '../support/telemetry';

/**
 * GET /metrics of every process kind, scraped from the real binaries: `dim up` (API,
 * worker and bridge in one process, on the local log; the API's and the worker's ports),
 * and `dim api` + `dim bridge` on Kafka (the bridge's own port). Each does real work (a
 * dataset, access events, a file migration that completes and one that fails, malformed
 * messages); the test parses the exposition format, checks the names against Prometheus'
 * conventions, the label sets, that the counters moved, and that every metric and label
 * the Grafana dashboard (deploy/grafana/dim-dashboard.json) queries is one that is exported.
 */
jest.setTimeout(240_000);

const VIEWER = 'metrics-viewer-secret-0123456789';
const OPERATOR = 'metrics-operator-secret-0123456789';
const viewer = { authorization: `Bearer ${VIEWER}` };
const operator = { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' };

/** Every scrape of the file: the dashboard's queries are checked against their union. */
const scrapes: Scrape[] = [];
const take = async (url: string, headers: Record<string, string> = {}) => {
  const s = await scrape(url, headers);
  scrapes.push(s);
  return s;
};

async function post(url: string, body: unknown, headers: Record<string, string> = operator) {
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  return {
    status: res.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
  };
}

async function waitForJob(api: string, jobId: string, status: string): Promise<void> {
  let last = '';
  await waitFor(
    `job ${jobId} ${status} (is ${last})`,
    async () => {
      const res = await fetch(`${api}/jobs/${jobId}`, { headers: viewer });
      last = ((await res.json()) as { status: string }).status;
      if (status !== 'failed' && last === 'failed') throw new Error(`job ${jobId} failed`);
      return last === status;
    },
    120_000,
    250,
  );
}

/**
 * Gauges of prom-client's process metrics (collectDefaultMetrics) whose names end in
 * `_total`: theirs, not dim's, kept as they are so that stock Node.js dashboards work.
 */
const LIBRARY_NAMES = new Set([
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]);

/** Prometheus' conventions, for every family of a scrape. */
function expectConventions(s: Scrape) {
  expect(s.contentType).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8$/);
  const problems = [...s.families.values()]
    .filter((f) => !LIBRARY_NAMES.has(f.name))
    .flatMap((f) => conventionProblems(f));
  expect(problems).toEqual([]);
}

const names = (s: Scrape) => [...s.families.keys()].filter((n) => n.startsWith('dim_'));
const labelsOf = (s: Scrape, name: string) => [...labelNames(s.families.get(name)!)].sort();

describe('metrics of dim up (every part in one process, local log)', () => {
  let up: DimProcess;
  let api: string;
  let worker: string;
  const dataDir = tempDir('metrics-up');
  const storage = path.join(dataDir, 'storage');
  const sizes = [200_000, 1000, 5];

  beforeAll(async () => {
    up = await startDim('up', {
      DIM_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      // Its own task queue: other checkouts' workers share this Temporal server.
      DIM_TASK_QUEUE: `metrics-test-${randomUUID()}`,
      DIM_API_PORT: String(await freePort()),
      DIM_WORKER_PORT: String(await freePort()),
      DIM_API_KEYS: `prom:viewer:${VIEWER},ops:operator:${OPERATOR}`,
    });
    api = up.ready.api!;
    worker = up.ready.worker!;
  });
  afterAll(async () => {
    up.child.kill('SIGTERM');
    await up.exited;
  });

  it('counts requests, events, bytes, objects, activities, failures and the bridge', async () => {
    const src = path.join(storage, 'src');
    mkdirSync(src, { recursive: true });
    sizes.forEach((n, i) => writeFileSync(path.join(src, `f${i}.bin`), randomBytes(n)));
    const ds = await post(`${api}/datasets`, { name: 'metrics-src', path_uri: `file://${src}` });
    expect(ds.status).toBe(201);
    const id = ds.body.id as number;

    // Access events: one through the fast lane, ten in a batch.
    const event = { dataset_id: id, op: 'read', size_bytes: 4096, client_lat_ms: 3 };
    expect((await post(`${api}/access-events`, event)).status).toBe(202);
    expect((await post(`${api}/access-events`, Array(10).fill(event))).status).toBe(202);

    // A migration that completes, and one that fails: its destination holds a foreign file.
    const plan = await post(`${api}/plan-migration`, {
      dataset_id: id,
      target_location: `file://${path.join(storage, 'dst')}`,
    });
    expect(plan.status).toBe(201);
    await waitForJob(api, plan.body.job_id as string, 'completed');
    const other = path.join(storage, 'other');
    mkdirSync(other);
    writeFileSync(path.join(other, 'x.txt'), 'x');
    const ds2 = await post(`${api}/datasets`, {
      name: 'metrics-other',
      path_uri: `file://${other}`,
    });
    const taken = path.join(storage, 'taken');
    mkdirSync(taken);
    writeFileSync(path.join(taken, 'foreign.txt'), 'not ours');
    const bad = await post(`${api}/plan-migration`, {
      dataset_id: ds2.body.id,
      target_location: `file://${taken}`,
    });
    expect(bad.status).toBe(201);
    await waitForJob(api, bad.body.job_id as string, 'failed');

    // A path no route answers, and a raw id in a path.
    expect((await fetch(`${api}/no/such/path`, { headers: viewer })).status).toBe(404);
    expect((await fetch(`${api}/jobs/${randomUUID()}`, { headers: viewer })).status).toBe(404);

    // The bridge aggregates the events shortly after they were accepted.
    await waitFor('the bridge applied 11 events', async () => {
      const s = await scrape(`${api}/metrics`, viewer);
      return (value(s.families, 'dim_bridge_events_applied_total') ?? 0) >= 11;
    });

    // Without a key /metrics is refused like any other call; a viewer key may scrape.
    const refused = await fetch(`${api}/metrics`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const s = await take(`${api}/metrics`, viewer);
    expectConventions(s);
    const m = s.families;

    // API: by method, route pattern and status; never a raw path.
    expect(labelsOf(s, 'dim_http_requests_total')).toEqual(['method', 'route', 'status']);
    expect(labelsOf(s, 'dim_http_request_duration_seconds')).toEqual([
      'le',
      'method',
      'route',
      'status',
    ]);
    const routes = new Set(labelSets(m, 'dim_http_requests_total').map((l) => l.route));
    for (const r of ['/datasets', '/access-events', '/plan-migration', '/jobs/:job_id'])
      expect(routes).toContain(r);
    expect(routes).toContain('unmatched');
    for (const r of routes)
      expect(r).toMatch(/^(\/[a-z-]*(\/:[a-z_]+|\/[a-z-]+)*|unmatched|static)$/);
    expect(value(m, 'dim_http_requests_total', { route: '/metrics', status: '401' })).toBe(1);
    expect(value(m, 'dim_http_requests_total', { route: '/jobs/:job_id', status: '404' })).toBe(1);
    expect(value(m, 'dim_http_request_duration_seconds', { route: '/plan-migration' })).toBe(2);
    expect(value(m, 'dim_events_accepted_total')).toBe(11);
    expect(labelSets(m, 'dim_event_buffer_depth')).toEqual([{ buffer: 'local-log' }]);

    // Worker: bytes and objects copied and verified, steps, activity outcomes and codes.
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(value(m, 'dim_mover_bytes_copied_total')).toBe(total);
    expect(value(m, 'dim_mover_objects_copied_total')).toBe(sizes.length);
    expect(value(m, 'dim_mover_objects_verified_total')).toBe(sizes.length);
    expect(value(m, 'dim_mover_bytes_verified_total')).toBe(total);
    expect(labelSets(m, 'dim_mover_active_steps')).toEqual(
      expect.arrayContaining([{ step: 'copy' }, { step: 'verify' }]),
    );
    expect(value(m, 'dim_mover_active_steps')).toBe(0);
    expect(value(m, 'dim_activity_executions_total', { outcome: 'completed' })).toBeGreaterThan(0);
    const failures = labelSets(m, 'dim_activity_failures_total');
    expect(failures).toContainEqual({ activity: expect.any(String), code: 'dest_not_empty' });
    expect(labelsOf(s, 'dim_activity_failures_total')).toEqual(['activity', 'code']);
    expect(value(m, 'dim_migration_jobs_status_total', { status: 'completed' })).toBe(1);
    expect(value(m, 'dim_migration_jobs_status_total', { status: 'failed' })).toBe(1);
    expect(value(m, 'dim_worker_up')).toBe(1);

    // Bridge: the local log is one partition; everything is aggregated by now.
    expect(value(m, 'dim_bridge_events_applied_total')).toBe(11);
    expect(value(m, 'dim_bridge_dead_letters_total')).toBe(0);
    expect(labelSets(m, 'dim_bridge_consumer_lag')).toEqual([
      { source: 'local-log', topic: 'access_events', partition: '0' },
    ]);

    // The process metrics, with their standard names.
    expect(m.get('process_cpu_seconds_total')?.type).toBe('counter');
    expect(m.get('process_resident_memory_bytes')?.type).toBe('gauge');
  });

  it("serves the same registry on the worker's port, without a key", async () => {
    const s = await take(`${worker}/metrics`);
    expectConventions(s);
    for (const n of [
      'dim_mover_bytes_copied_total',
      'dim_mover_objects_verified_total',
      'dim_activity_failures_total',
      'dim_worker_running_activities',
    ])
      expect(names(s)).toContain(n);
    expect(value(s.families, 'dim_mover_objects_copied_total')).toBe(sizes.length);
  });
});

describe('metrics of dim api and dim bridge on Kafka (separate processes)', () => {
  const kafka = kafkaClient();
  const prefix = uniquePrefix('metrics');
  const topic = `${prefix}access_events`;
  const dataDir = tempDir('metrics-kafka');
  let apiProc: DimProcess | undefined;
  let bridgeProc: DimProcess | undefined;

  afterAll(async () => {
    for (const p of [apiProc, bridgeProc]) {
      p?.child.kill('SIGTERM');
      await p?.exited;
    }
    await deleteTopics(kafka, prefix).catch(() => undefined);
  });

  it("reports events applied, dead letters and the lag of every partition on the bridge's port", async () => {
    await createTopic(kafka, topic, 3);
    const env = {
      DIM_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      KAFKA_BROKERS: '127.0.0.1:9092',
      DIM_TOPIC_PREFIX: prefix,
      DIM_BRIDGE_GROUP: `${prefix}bridge`,
      DIM_API_PORT: String(await freePort()),
      DIM_BRIDGE_PORT: String(await freePort()),
    };
    apiProc = await startDim('api', env);
    bridgeProc = await startDim('bridge', env);
    const api = apiProc.ready.api!;
    const bridge = bridgeProc.ready.bridge!;
    expect(bridge).toBe(`http://127.0.0.1:${env.DIM_BRIDGE_PORT}`);
    expect(await (await fetch(`${bridge}/health`)).json()).toEqual({
      status: 'ok',
      bridge: 'kafka',
    });

    const open = { 'content-type': 'application/json' };
    const ids: number[] = [];
    for (const name of ['k1', 'k2', 'k3']) {
      const ds = await post(
        `${api}/datasets`,
        { name: `metrics-${name}`, path_uri: `file://${path.join(dataDir, 'storage', name)}` },
        open,
      );
      expect(ds.status).toBe(201);
      ids.push(ds.body.id as number);
    }
    const events = Array.from({ length: 30 }, (_, i) => ({
      dataset_id: ids[i % 3],
      op: 'read',
      size_bytes: 100,
      client_lat_ms: 1,
    }));
    expect((await post(`${api}/access-events`, events, open)).status).toBe(202);
    // Two messages no dim process wrote: malformed, and for a dataset that does not exist.
    const producer = await plainProducer(kafka);
    try {
      await producer.send({
        topic,
        messages: [
          { key: '1', value: 'not json' },
          { key: '9', value: JSON.stringify({ ...events[0], dataset_id: 99_999_999 }) },
        ],
      });
    } finally {
      await producer.disconnect();
    }

    let s: Scrape | undefined;
    await waitFor(
      'the bridge applied 30 events and set 2 aside, and its lag is 0',
      async () => {
        s = await scrape(`${bridge}/metrics`);
        const lags = labelSets(s.families, 'dim_bridge_consumer_lag');
        return (
          value(s.families, 'dim_bridge_events_applied_total') === 30 &&
          value(s.families, 'dim_bridge_dead_letters_total') === 2 &&
          lags.length === 3 &&
          value(s.families, 'dim_bridge_consumer_lag') === 0
        );
      },
      60_000,
      500,
    );
    scrapes.push(s!);
    expectConventions(s!);
    expect(
      labelSets(s!.families, 'dim_bridge_consumer_lag').sort((a, b) =>
        a.partition!.localeCompare(b.partition!),
      ),
    ).toEqual(['0', '1', '2'].map((partition) => ({ source: 'kafka', topic, partition })));
    expect(value(s!.families, 'dim_bridge_batches_total')).toBeGreaterThan(0);
    expect(value(s!.families, 'dim_bridge_last_batch_timestamp_seconds')).toBeGreaterThan(
      Date.now() / 1000 - 600,
    );

    // The API alone, open (no keys): its own metrics; the Kafka outbox is empty.
    const a = await take(`${api}/metrics`);
    expectConventions(a);
    expect(value(a.families, 'dim_events_accepted_total')).toBe(30);
    expect(value(a.families, 'dim_event_buffer_depth', { buffer: 'kafka-outbox' })).toBe(0);
    expect(names(a).filter((n) => n.startsWith('dim_bridge_'))).toEqual([]);
  });
});

describe('metrics of dim worker alone', () => {
  it('serves its registry on its health port: the worker, its activities and the process', async () => {
    const proc = await startDim('worker', {
      DIM_DATA_DIR: tempDir('metrics-worker'),
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      DIM_TASK_QUEUE: `metrics-test-${randomUUID()}`,
      DIM_WORKER_PORT: String(await freePort()),
    });
    try {
      const s = await take(`${proc.ready.worker!}/metrics`);
      expectConventions(s);
      expect(value(s.families, 'dim_worker_up')).toBe(1);
      expect(value(s.families, 'dim_mover_bytes_copied_total')).toBe(0);
      expect(s.families.get('dim_activity_failures_total')?.type).toBe('counter');
      expect(s.families.get('process_cpu_seconds_total')?.type).toBe('counter');
      // Only what this process runs: no API, no bridge.
      expect(names(s).filter((n) => /^dim_(http|bridge|event)_/.test(n))).toEqual([]);
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  });
});

describe('deploy/', () => {
  it('the Grafana dashboard queries only metrics and labels the processes export', () => {
    expect(scrapes.length).toBeGreaterThanOrEqual(5);
    const families = new Map<string, MetricFamily>();
    const labels = new Map<string, Set<string>>();
    for (const s of scrapes) {
      for (const f of s.families.values()) {
        for (const series of seriesNames(f)) {
          families.set(series, f);
          const l = labels.get(series) ?? new Set<string>();
          for (const n of labelNames(f)) l.add(n);
          labels.set(series, l);
        }
      }
    }
    const file = path.join(repoRoot, 'deploy', 'grafana', 'dim-dashboard.json');
    const dashboard = JSON.parse(readFileSync(file, 'utf8')) as {
      uid: string;
      templating: { list: { name: string; type: string; query: string }[] };
      panels: {
        id: number;
        type: string;
        title: string;
        datasource?: { uid: string };
        targets?: { expr: string; refId: string }[];
      }[];
    };
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const used = new Set<string>();
    const problems: string[] = [];
    for (const p of panels) {
      expect(p.datasource?.uid).toBe('${datasource}');
      expect(p.targets?.length).toBeGreaterThan(0);
      for (const t of p.targets!) {
        const { metrics, labels: ls } = promqlUses(t.expr);
        expect(metrics.length).toBeGreaterThan(0);
        for (const n of metrics) {
          used.add(n);
          if (!families.has(n)) problems.push(`${p.title}: ${n} is not exported`);
        }
        const known = new Set([
          'job',
          'instance',
          ...metrics.flatMap((n) => [...(labels.get(n) ?? [])]),
        ]);
        for (const l of ls)
          if (!known.has(l)) problems.push(`${p.title}: no label ${l} on ${metrics.join(', ')}`);
      }
    }
    expect(problems).toEqual([]);
    // The panels the issue asks for, by what they query.
    for (const n of [
      'dim_events_accepted_total',
      'dim_http_request_duration_seconds_bucket',
      'dim_http_requests_total',
      'dim_mover_bytes_copied_total',
      'dim_mover_active_steps',
      'dim_activity_failures_total',
      'dim_bridge_consumer_lag',
      'dim_bridge_dead_letters_total',
    ])
      expect(used).toContain(n);
  });

  it('the Prometheus config scrapes the API, worker and bridge on their default ports', () => {
    const yml = readFileSync(path.join(repoRoot, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8');
    const config = loadConfig({});
    const jobs = [...yml.matchAll(/job_name: (\S+)[\s\S]*?targets: \['([^']+)'\]/g)].map((m) => [
      m[1],
      m[2],
    ]);
    expect(jobs).toEqual([
      ['dim-api', `127.0.0.1:${config.api.port}`],
      ['dim-worker', `127.0.0.1:${config.worker.port}`],
      ['dim-bridge', `127.0.0.1:${config.bridge.port}`],
    ]);
    expect(yml).toMatch(/authorization:\s+credentials_file: /);
  });
});
