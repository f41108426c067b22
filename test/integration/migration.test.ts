import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createApp, listen } from '../../api/app';
import type { Message, Topic } from '../../events/sink';
import { silentLogger } from '../../runtime/log';
import { lexicalLocationKey } from '../../storage/location-key';
import { serveWorkerHealth } from '../../workers/migration-worker';
import {
  cancelSignal,
  progressQuery,
  retireNowSignal,
  searchAttributes,
} from '../../workflows/migration-contract';
import {
  bundleWorkflows,
  createDataset,
  fileUri,
  jobRow,
  listAll,
  maybeSaveHistory,
  startHarness,
  treeDigest,
  waitForJob,
  waitForStatus,
  writeTree,
  type Harness,
} from '../support/migration';

/**
 * The migration workflow end to end on the real Temporal dev server: API → workflow →
 * activities → storage, with the status mirrored to SQLite and the local event log.
 * The copy is capped at 20 MB/s here so that cancels can land mid-copy.
 */
jest.setTimeout(120_000);

let h: Harness;
const MB = 1024 * 1024;

beforeAll(async () => {
  const bundle = await bundleWorkflows();
  h = await startHarness({
    name: 'migration',
    taskQueue: `migration-test-${randomUUID()}`,
    bundle,
    tuning: {
      maxBytesPerSecond: 20 * MB,
      resumableMinBytes: 4 * MB,
      concurrency: 8,
      checkpointMs: 200,
    },
  });
});

afterAll(async () => {
  await h?.close();
});

const src = (name: string) => path.join(h.root, 'src', name);
const dst = (name: string) => path.join(h.root, 'dst', name);

async function planned(body: Record<string, unknown>, expectStatus = 201) {
  const r = await h.request('POST', '/plan-migration', body);
  expect({ status: r.status, body: r.body as unknown }).toMatchObject({ status: expectStatus });
  return r.body as { job_id: string; job_key: string; workflow_id: string };
}

async function statusEvents(jobId: string): Promise<string[]> {
  const rows = await h.store.db
    .selectFrom('event_log')
    .select('value')
    .where('topic', '=', 'migration_status')
    .orderBy('seq')
    .execute();
  return rows
    .map((r) => JSON.parse(r.value) as { job_id: string; status: string })
    .filter((m) => m.job_id === jobId)
    .map((m) => m.status)
    .filter((s, i, all) => s !== all[i - 1]); // the copy repeats `copying` with its progress
}

function random(n: number): Buffer {
  return randomBytes(n);
}

test('one file: plan with the prototype body, copy, verify, switch; the job and events tell the story', async () => {
  writeTree(src('one'), { 'data.bin': random(300_000) });
  const before = treeDigest(path.join(src('one'), 'data.bin'));
  const id = await createDataset(h, 'one', fileUri(path.join(src('one'), 'data.bin')), 300_000);
  const job = await planned({
    dataset_id: id,
    target_location: fileUri(dst('one.bin')),
    storage_class: 'standard',
  });
  expect(job).toMatchObject({
    dataset_id: id,
    source_uri: fileUri(path.join(src('one'), 'data.bin')),
    dest_uri: fileUri(dst('one.bin')),
    dest_storage_class: 'standard',
    status: 'queued',
    error: null,
    workflow_id: `migration-${job.job_key}`,
  });
  await waitForStatus(h, job.job_id, 'completed');
  expect(treeDigest(dst('one.bin'))).toEqual(before);
  expect(treeDigest(path.join(src('one'), 'data.bin'))).toEqual(before); // the source stays

  const ds = (await h.request('GET', `/datasets/${id}`)).body as {
    path_uri: string;
    version: number;
    size_bytes: number;
    object_count: number;
  };
  expect(ds).toMatchObject({
    path_uri: fileUri(dst('one.bin')),
    version: 2,
    size_bytes: 300_000,
    object_count: 1,
  });
  const replicas = await h.store.db
    .selectFrom('replicas')
    .selectAll()
    .where('dataset_id', '=', id)
    .orderBy('id')
    .execute();
  expect(replicas.map((r) => [r.uri, r.role])).toEqual([
    [fileUri(path.join(src('one'), 'data.bin')), 'stale'],
    [fileUri(dst('one.bin')), 'primary'],
  ]);

  const got = await h.request('GET', `/jobs/${job.job_id}`);
  expect(got.status).toBe(200);
  expect(got.body).toMatchObject({
    job_id: job.job_id,
    status: 'completed',
    progress: {
      bytes_done: 300_000,
      bytes_total: 300_000,
      objects_done: 1,
      objects_total: 1,
      percent: 100,
    },
  });
  expect(got.body.temporal_ui_url).toContain(`/workflows/${job.workflow_id}`);
  const list = await h.request('GET', `/jobs?dataset_id=${id}`);
  expect(list.body.items.map((j: { job_id: string }) => j.job_id)).toEqual([job.job_id]);

  expect(await statusEvents(job.job_id)).toEqual([
    'copying',
    'verifying',
    'switching',
    'completed',
  ]);
  const desc = await h.client.workflow.getHandle(job.workflow_id).describe();
  expect(desc.typedSearchAttributes.get(searchAttributes.status)).toBe('completed');
  expect(desc.typedSearchAttributes.get(searchAttributes.datasetId)).toBe(id);
  expect(desc.typedSearchAttributes.get(searchAttributes.jobKey)).toBe(job.job_key);
  await maybeSaveHistory(h, job.workflow_id, 'completed-one-file');
});

test('1,000 small files', async () => {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 1000; i++)
    files[`f${String(i).padStart(4, '0')}.dat`] = random(100 + (i % 900));
  writeTree(src('thousand'), files);
  const id = await createDataset(h, 'thousand', fileUri(src('thousand')));
  const job = await planned({
    dataset_id: id,
    target_location: fileUri(dst('thousand')),
    storage_class: 'standard',
  });
  const done = await waitForStatus(h, job.job_id, 'completed');
  expect(done.objects_total).toBe(1000);
  expect(treeDigest(dst('thousand'))).toEqual(treeDigest(src('thousand')));
  const states = await h.store.db
    .selectFrom('migration_objects')
    .select(['state'])
    .where('job_id', '=', job.job_id)
    .execute();
  expect(states).toHaveLength(1000);
  expect(new Set(states.map((s) => s.state))).toEqual(new Set(['verified']));
});

test('nested folders, odd names', async () => {
  writeTree(src('nested'), {
    'a/b/c/d/e.txt': 'deep',
    'a/x.txt': 'x',
    'a-b.txt': 'sorts before a/',
    'sp ace/ünï cödé.txt': 'unicode',
    'z/y/w/v/u/t/s.bin': random(70_000),
    '.hidden/file': 'dot',
  });
  const id = await createDataset(h, 'nested', fileUri(src('nested')));
  const job = await planned({
    dataset_id: id,
    target_location: fileUri(dst('nested')),
    storage_class: 'standard',
  });
  await waitForStatus(h, job.job_id, 'completed');
  expect(treeDigest(dst('nested'))).toEqual(treeDigest(src('nested')));
  expect(Object.keys(treeDigest(dst('nested')))).toHaveLength(6);
});

test('an empty dataset migrates to an empty place', async () => {
  writeTree(src('empty'), {});
  const id = await createDataset(h, 'empty', fileUri(src('empty')));
  const job = await planned({
    dataset_id: id,
    target_location: fileUri(dst('empty')),
    storage_class: 'standard',
  });
  await waitForStatus(h, job.job_id, 'completed');
  expect(existsSync(dst('empty'))).toBe(true);
  expect(listAll(dst('empty'))).toEqual([]);
  const ds = (await h.request('GET', `/datasets/${id}`)).body as {
    path_uri: string;
    object_count: number;
  };
  expect(ds).toMatchObject({ path_uri: fileUri(dst('empty')), object_count: 0 });
});

test('ten concurrent identical plans: one job, one workflow, one copy', async () => {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 20; i++) files[`part-${i}`] = random(50_000);
  writeTree(src('ten'), files);
  const id = await createDataset(h, 'ten', fileUri(src('ten')));
  const body = { dataset_id: id, target_location: fileUri(dst('ten')), storage_class: 'standard' };
  const replies = await Promise.all(
    Array.from({ length: 10 }, () => h.request('POST', '/plan-migration', body)),
  );
  const statuses = replies.map((r) => r.status).sort();
  expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
  const ids = new Set(replies.map((r) => (r.body as { job_id: string }).job_id));
  expect(ids.size).toBe(1);
  const jobId = [...ids][0]!;
  const done = await waitForStatus(h, jobId, 'completed');
  // Planned again after the fact: the same job, not a second copy.
  const again = await h.request('POST', '/plan-migration', { ...body, job_key: done.job_key });
  expect(again).toMatchObject({ status: 200, body: { job_id: jobId, status: 'completed' } });

  const handle = h.client.workflow.getHandle(done.workflow_id);
  const history = await handle.fetchHistory();
  const scheduled = (history.events ?? [])
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
    .filter((n) => n === 'copy');
  expect(scheduled).toHaveLength(1);
  const runs = [];
  for await (const w of h.client.workflow.list({ query: `WorkflowId = '${done.workflow_id}'` }))
    runs.push(w.runId);
  expect(runs).toHaveLength(1);
  const progress = await handle.query(progressQuery);
  expect(progress).toMatchObject({
    status: 'completed',
    bytes_copied: 20 * 50_000,
    bytes_resumed: 0,
    copy_attempts: 1,
  });
  expect(
    await h.store.db
      .selectFrom('migration_jobs')
      .select('job_id')
      .where('dataset_id', '=', id)
      .execute(),
  ).toHaveLength(1);
});

test('approval: the job waits, nothing is copied, then approve lets it run', async () => {
  writeTree(src('approve'), { 'a.txt': 'needs a yes', 'b/c.txt': 'too' });
  const id = await createDataset(h, 'approve', fileUri(src('approve')));
  const job = await planned({
    dataset_id: id,
    target_location: fileUri(dst('approve')),
    storage_class: 'standard',
    require_approval: true,
  });
  await waitForStatus(h, job.job_id, 'awaiting_approval');
  await new Promise((r) => setTimeout(r, 300));
  expect((await jobRow(h, job.job_id)).status).toBe('awaiting_approval');
  expect(existsSync(dst('approve'))).toBe(false);
  // One migration of a dataset at a time.
  const other = await h.request('POST', '/plan-migration', {
    dataset_id: id,
    target_location: fileUri(dst('approve-elsewhere')),
    storage_class: 'standard',
  });
  expect(other).toMatchObject({
    status: 409,
    body: { field: 'body.dataset_id', job_id: job.job_id },
  });
  const live = await h.request('GET', `/jobs/${job.job_id}`);
  expect(live.body).toMatchObject({
    status: 'awaiting_approval',
    live: { status: 'awaiting_approval', approved_by: null },
  });

  const ok = await h.request('POST', `/jobs/${job.job_id}/approve`);
  expect(ok.status).toBe(202);
  await waitForStatus(h, job.job_id, 'completed');
  expect(treeDigest(dst('approve'))).toEqual(treeDigest(src('approve')));
  const p = await h.client.workflow.getHandle(job.workflow_id).query(progressQuery);
  expect(p.approved_by).toBe('anonymous');
  const again = await h.request('POST', `/jobs/${job.job_id}/approve`);
  expect(again.status).toBe(409);
  await maybeSaveHistory(h, job.workflow_id, 'approved');
});

test('cancel mid-copy: the copy stops, the destination is cleaned, the source is untouched', async () => {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 6; i++) files[`big/${i}.bin`] = random(12 * MB); // resumable (part files)
  files['small.txt'] = Buffer.from('small');
  writeTree(src('cancel'), files);
  const before = treeDigest(src('cancel'));
  const id = await createDataset(h, 'cancel', fileUri(src('cancel')));
  const job = await planned({
    dataset_id: id,
    target_location: fileUri(dst('cancel')),
    storage_class: 'standard',
  });
  await waitForJob(
    h,
    job.job_id,
    (j) => j.status === 'copying' && Number(j.bytes_done) > 4 * MB,
    30_000,
    'copying > 4 MB',
  );
  expect(listAll(dst('cancel')).length).toBeGreaterThan(0);

  // The worker's own port shows the copy in flight (GET /jobs) and counts it in /metrics.
  const health = await serveWorkerHealth(h.worker!, '127.0.0.1', 0);
  try {
    const base = `http://127.0.0.1:${(health.address() as AddressInfo).port}`;
    const active = (await (await fetch(`${base}/jobs`)).json()) as {
      items: { job_id: string; step: string; bytes_total: number }[];
    };
    expect(active.items).toEqual([
      expect.objectContaining({ job_id: job.job_id, step: 'copy', bytes_total: 72 * MB + 5 }),
    ]);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(
      /^dim_mover_active_steps\{step="copy"\} 1$/m,
    );
  } finally {
    health.close();
  }

  const r = await h.request('POST', `/jobs/${job.job_id}/cancel`, { reason: 'changed my mind' });
  expect(r.status).toBe(202);
  const done = await waitForStatus(h, job.job_id, 'cancelled');
  expect(done.error).toBe('changed my mind');
  expect(Number(done.bytes_done)).toBeLessThan(72 * MB);
  expect(listAll(dst('cancel'))).toEqual([]);
  expect(existsSync(dst('cancel'))).toBe(false);
  expect(treeDigest(src('cancel'))).toEqual(before);
  const ds = (await h.request('GET', `/datasets/${id}`)).body as {
    path_uri: string;
    version: number;
  };
  expect(ds).toMatchObject({ path_uri: fileUri(src('cancel')), version: 1 });
  expect(
    await h.store.db
      .selectFrom('migration_objects')
      .select('key')
      .where('job_id', '=', job.job_id)
      .execute(),
  ).toEqual([]);
  expect(await statusEvents(job.job_id)).toEqual(['copying', 'cancelled']);
  const again = await h.request('POST', `/jobs/${job.job_id}/cancel`);
  expect(again.status).toBe(409);
  await maybeSaveHistory(h, job.workflow_id, 'cancelled-mid-copy');
});

test('cancel after the switch is refused; retire waits out its grace period, then deletes the source', async () => {
  writeTree(src('refuse'), { 'x/1.txt': 'one', 'x/2.txt': 'two', '3.txt': random(10_000) });
  const before = treeDigest(src('refuse'));
  const id = await createDataset(h, 'refuse', fileUri(src('refuse')));
  const job = await planned({
    dataset_id: id,
    target_location: fileUri(dst('refuse')),
    storage_class: 'standard',
    retire_source: true,
    retire_grace_s: 600,
  });
  await waitForStatus(h, job.job_id, 'retiring');
  const r = await h.request('POST', `/jobs/${job.job_id}/cancel`);
  expect(r.status).toBe(409);
  expect(r.body).toMatchObject({ status: 409, job_status: 'retiring' });
  expect(r.body.detail).toMatch(/switch/);

  // From outside the API (as `temporal workflow signal` would): recorded, refused.
  const handle = h.client.workflow.getHandle(job.workflow_id);
  await handle.signal(cancelSignal, { by: 'ops', reason: 'too late' });
  const p = await handle.query(progressQuery);
  expect(p.cancel_refusals).toHaveLength(1);
  expect(p.cancel_refusals[0]).toMatchObject({ by: 'ops' });
  expect(p.cancel_refusals[0]!.reason).toMatch(/refused/);
  expect(p.retire_at).not.toBeNull();
  expect(treeDigest(src('refuse'))).toEqual(before); // still in its grace period

  await handle.signal(retireNowSignal);
  await waitForStatus(h, job.job_id, 'completed');
  expect(treeDigest(dst('refuse'))).toEqual(before);
  expect(listAll(src('refuse'))).toEqual([]);
  const replicas = await h.store.db
    .selectFrom('replicas')
    .select(['uri', 'role'])
    .where('dataset_id', '=', id)
    .orderBy('id')
    .execute();
  expect(replicas).toEqual([
    { uri: fileUri(src('refuse')), role: 'retired' },
    { uri: fileUri(dst('refuse')), role: 'primary' },
  ]);
  await maybeSaveHistory(h, job.workflow_id, 'retired-after-refused-cancel');
});

test('a destination byte flipped before verify is detected: never switched, cleaned; retry then completes', async () => {
  writeTree(src('flip'), { 'a.bin': random(64_000), 'b/c.bin': random(32_000) });
  const before = treeDigest(src('flip'));
  const id = await createDataset(h, 'flip', fileUri(src('flip')));
  let flipped = false;
  let jobId = '';
  h.sink.onPublish = (topic: Topic, messages: Message[]) => {
    const m = messages[0]?.value as { job_id?: string; status?: string } | undefined;
    if (
      topic === 'migration_status' &&
      m?.job_id === jobId &&
      m.status === 'verifying' &&
      !flipped
    ) {
      const f = path.join(dst('flip'), 'b', 'c.bin');
      const fd = openSync(f, 'r+');
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, 1000);
      b[0] = b[0]! ^ 0xff;
      writeSync(fd, b, 0, 1, 1000);
      closeSync(fd);
      flipped = true;
    }
  };
  try {
    const job = await planned({
      dataset_id: id,
      target_location: fileUri(dst('flip')),
      storage_class: 'standard',
    });
    jobId = job.job_id;
    const failed = await waitForStatus(h, job.job_id, 'failed');
    expect(flipped).toBe(true);
    expect(failed.error).toMatch(/^verify_mismatch: .*b\/c\.bin.*BLAKE3/); // file → file: BLAKE3 (issue 12)
    const ds = (await h.request('GET', `/datasets/${id}`)).body as {
      path_uri: string;
      version: number;
    };
    expect(ds).toMatchObject({ path_uri: fileUri(src('flip')), version: 1 });
    expect(
      await h.store.db.selectFrom('replicas').select('id').where('dataset_id', '=', id).execute(),
    ).toEqual([]);
    expect(listAll(dst('flip'))).toEqual([]);
    expect(treeDigest(src('flip'))).toEqual(before);
    expect(await statusEvents(job.job_id)).toEqual(['copying', 'verifying', 'failed']);
    await maybeSaveHistory(h, job.workflow_id, 'failed-verify');

    // A failed job may run again under the same workflow id (a completed one may not).
    const retried = await h.request('POST', `/jobs/${job.job_id}/retry`);
    expect(retried.status).toBe(202);
    await waitForStatus(h, job.job_id, 'completed');
    expect(treeDigest(dst('flip'))).toEqual(before);
    const no = await h.request('POST', `/jobs/${job.job_id}/retry`);
    expect(no.status).toBe(409);
    expect(no.body.detail).toMatch(/completed/);
  } finally {
    h.sink.onPublish = undefined;
  }
});

test('Temporal unreachable: the job is kept as enqueue_failed, and retry starts it later', async () => {
  writeTree(src('unreachable'), { 'u.txt': 'later' });
  const id = await createDataset(h, 'unreachable', fileUri(src('unreachable')));
  const dead = new Client({
    connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 }),
  });
  const app = createApp({
    log: silentLogger,
    health: {},
    db: h.store.db,
    apiKeys: [],
    checkLocation: (uri) => Promise.resolve(uri),
    datasetLocation: (uri) => Promise.resolve({ uri, key: lexicalLocationKey(uri) }),
    events: h.sink,
    temporal: { client: dead, namespace: 'default', taskQueue: h.taskQueue },
  });
  const api = await listen(app, '127.0.0.1', 0);
  try {
    const res = await fetch(`${api.url}/plan-migration`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        dataset_id: id,
        target_location: fileUri(dst('unreachable')),
        storage_class: 'standard',
      }),
    });
    expect(res.status).toBe(503);
    const problem = (await res.json()) as { job_id: string; detail: string };
    expect(problem.detail).toMatch(/could not be started/);
    const row = await jobRow(h, problem.job_id);
    expect(row.status).toBe('enqueue_failed');
    // Through the API that reaches Temporal: retry starts it.
    const retried = await h.request('POST', `/jobs/${problem.job_id}/retry`);
    expect(retried.status).toBe(202);
    await waitForStatus(h, problem.job_id, 'completed');
    expect(treeDigest(dst('unreachable'))).toEqual(treeDigest(src('unreachable')));
  } finally {
    await api.close();
    await dead.connection.close();
  }
});

test('bad plans get a 4xx naming the field, and start nothing', async () => {
  writeTree(src('bad'), { 'f.txt': 'f' });
  const id = await createDataset(h, 'bad', fileUri(src('bad')));
  const jobsBefore = (await h.store.db.selectFrom('migration_jobs').select('job_id').execute())
    .length;
  const cases: Array<[Record<string, unknown>, number, string]> = [
    [{ dataset_id: 'one', target_location: fileUri(dst('bad')) }, 400, 'body.dataset_id'],
    [{ dataset_id: id }, 400, 'body.target_location'],
    [{ dataset_id: id, target_location: 'ftp://x/y' }, 400, 'body.target_location'],
    [
      // Inside its own location: the destination would overlap a dataset (invariant 9).
      { dataset_id: id, target_location: fileUri(path.join(src('bad'), 'inner')) },
      409,
      'body.target_location',
    ],
    [{ dataset_id: 999_999, target_location: fileUri(dst('bad')) }, 404, 'body.dataset_id'],
    [
      { dataset_id: id, target_location: fileUri(dst('bad')), retire_grace_s: -1 },
      400,
      'body.retire_grace_s',
    ],
    [
      { dataset_id: id, target_location: fileUri(dst('bad')), job_key: 'no spaces' },
      400,
      'body.job_key',
    ],
    [{ dataset_id: id, target_location: fileUri(dst('bad')), surprise: 1 }, 400, 'body.surprise'],
  ];
  for (const [body, status, field] of cases) {
    const r = await h.request('POST', '/plan-migration', body);
    expect({ body, status: r.status, field: r.body?.field }).toEqual({ body, status, field });
  }
  expect(await h.request('GET', '/jobs?status=nope')).toMatchObject({
    status: 400,
    body: { field: 'query.status' },
  });
  expect(await h.request('GET', `/jobs/${randomUUID()}`)).toMatchObject({ status: 404 });
  expect(await h.request('GET', '/jobs/not-a-uuid')).toMatchObject({
    status: 400,
    body: { field: 'path.job_id' },
  });
  expect((await h.store.db.selectFrom('migration_jobs').select('job_id').execute()).length).toBe(
    jobsBefore,
  );
});

test('GET /jobs filters and paginates', async () => {
  const all = await h.request('GET', '/jobs?limit=1000');
  expect(all.status).toBe(200);
  const n = all.body.items.length as number;
  expect(n).toBeGreaterThanOrEqual(5);
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { items: Array<{ job_id: string }>; next_cursor: string | null } } =
      await h.request('GET', `/jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    seen.push(...page.body.items.map((j) => j.job_id));
    cursor = page.body.next_cursor;
  } while (cursor);
  expect(seen).toEqual(all.body.items.map((j: { job_id: string }) => j.job_id));
  const completed = await h.request('GET', '/jobs?status=completed');
  expect(completed.body.items.every((j: { status: string }) => j.status === 'completed')).toBe(
    true,
  );
  expect(completed.body.items.length).toBeGreaterThan(0);
});
