import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { progressQuery, setBandwidthSignal } from '../../workflows/migration-contract';
import { startChildWorker, type ChildWorker } from '../support/child-worker';
import {
  bundleWorkflows,
  createDataset,
  fileUri,
  startHarness,
  treeDigest,
  waitForJob,
  waitForStatus,
  writeTree,
  type Harness,
} from '../support/migration';

/**
 * Bandwidth control on the real Temporal dev server: a file→file migration planned at a low
 * limit, whose limit is changed twice while it copies, once by the `setBandwidth` signal
 * sent straight through Temporal and once by `POST /jobs/{id}/bandwidth`. The copy applies
 * each change where it is (one attempt, nothing copied twice), and the job completes with
 * the files matching. Rates are checked loosely and one-sidedly (a rate measured under a
 * limit stays near it; load only slows a copy down), never against a clock.
 */
jest.setTimeout(180_000);

const KiB = 1024;
const MiB = 1024 * KiB;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'bandwidth',
    taskQueue: `bandwidth-test-${randomUUID()}`,
    bundle: await bundleWorkflows(),
    // The worker's own cap, far above the job's limits: the lower one applies.
    tuning: { maxBytesPerSecond: 256 * MiB, concurrency: 4 },
  });
});

afterAll(async () => {
  await h?.close();
});

test('a running copy follows its limit as it changes, by signal and by the API, without restarting', async () => {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 96; i++)
    files[`part-${String(i).padStart(3, '0')}.bin`] = randomBytes(64 * KiB);
  const srcDir = path.join(h.root, 'src', 'bw');
  writeTree(srcDir, files);
  const before = treeDigest(srcDir);
  const total = 96 * 64 * KiB; // 6 MiB
  const low = 128 * KiB;
  const id = await createDataset(h, `bw-${randomUUID()}`, fileUri(srcDir), total);

  const plan = await h.request('POST', '/plan-migration', {
    dataset_id: id,
    target_location: fileUri(path.join(h.root, 'dst', 'bw')),
    max_bytes_per_s: low,
  });
  expect(plan).toMatchObject({ status: 201, body: { max_bytes_per_s: low } });
  const { job_id: jobId, workflow_id: workflowId } = plan.body as {
    job_id: string;
    workflow_id: string;
  };

  // At the low limit: the copy reports a rate, and it stays near the limit.
  const slow = await waitForJob(
    h,
    jobId,
    (j) => j.status === 'copying' && j.bytes_per_s !== null && j.bytes_per_s > 0,
    60_000,
    'a copy rate recorded',
  );
  expect(Number(slow.bytes_done)).toBeLessThan(total);
  expect(Number(slow.bytes_per_s)).toBeLessThanOrEqual(2 * low);
  const view = await h.request('GET', `/jobs/${jobId}`);
  expect(view.body).toMatchObject({
    status: 'copying',
    max_bytes_per_s: low,
    progress: { bytes_per_s: expect.any(Number) },
    live: { max_bytes_per_s: low, bandwidth_set_by: null },
  });

  // Straight through Temporal, bypassing the API: the workflow records it on the job row.
  await h.client.workflow
    .getHandle(workflowId)
    .signal(setBandwidthSignal, { by: 'temporal-cli', max_bytes_per_s: 2 * low });
  await waitForJob(h, jobId, (j) => j.max_bytes_per_s === 2 * low, 30_000, 'the signalled limit');
  expect(await h.client.workflow.getHandle(workflowId).query(progressQuery)).toMatchObject({
    status: 'copying',
    max_bytes_per_s: 2 * low,
    bandwidth_set_by: 'temporal-cli',
  });

  // Bad input through the API names the field; then the operator raises the limit.
  const bad = await h.request('POST', `/jobs/${jobId}/bandwidth`, { max_bytes_per_s: 'fast' });
  expect(bad).toMatchObject({ status: 400, body: { field: 'body.max_bytes_per_s' } });
  const fast = 2 * MiB;
  const raised = await h.request('POST', `/jobs/${jobId}/bandwidth`, { max_bytes_per_s: fast });
  expect(raised).toMatchObject({ status: 202, body: { job_id: jobId, max_bytes_per_s: fast } });
  const atRaise = await h.store.db
    .selectFrom('migration_jobs')
    .select(['bytes_done', 'status'])
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  // Still copying when raised: at 128-256 KiB/s, 6 MiB takes far longer than the steps above.
  expect(atRaise.status).toBe('copying');
  expect(Number(atRaise.bytes_done)).toBeLessThan(total);

  // The rate rises above what the old limits allowed, and the job completes.
  let fastest = 0;
  const done = await waitForJob(
    h,
    jobId,
    (j) => {
      if (j.bytes_per_s !== null) fastest = Math.max(fastest, Number(j.bytes_per_s));
      return j.status === 'completed' || j.status === 'failed';
    },
    120_000,
    'the end of the job',
  );
  expect(done).toMatchObject({ status: 'completed', max_bytes_per_s: fast, bytes_per_s: null });
  expect(fastest).toBeGreaterThan(2 * low);
  expect(treeDigest(path.join(h.root, 'dst', 'bw'))).toEqual(before);

  // One copy attempt that wrote every byte once: the changes did not restart it.
  expect(await h.client.workflow.getHandle(workflowId).query(progressQuery)).toMatchObject({
    status: 'completed',
    copy_attempts: 1,
    bytes_copied: total,
    bytes_resumed: 0,
    max_bytes_per_s: fast,
  });
  const audit = await h.store.db
    .selectFrom('audit_log')
    .select(['actor', 'action', 'details'])
    .where('target', '=', `job:${jobId}`)
    .where('action', '=', 'job.bandwidth_changed')
    .execute();
  expect(audit.map((a) => JSON.parse(a.details) as unknown)).toEqual([
    { from: 2 * low, to: fast, status: 'copying' },
  ]);

  // A job that ended: 409.
  const late = await h.request('POST', `/jobs/${jobId}/bandwidth`, { max_bytes_per_s: null });
  expect(late).toMatchObject({ status: 409 });
  await waitForStatus(h, jobId, 'completed');
});

test('a limit changed while the worker is killed reaches the copy the next worker runs (it replays the workflow, the signal included)', async () => {
  const taskQueue = `bandwidth-kill-${randomUUID()}`;
  const k = await startHarness({
    name: 'bandwidth-kill',
    taskQueue,
    bundle: await bundleWorkflows(),
    worker: false,
  });
  const children: ChildWorker[] = [];
  try {
    const bundleFile = path.join(k.dir, 'workflow-bundle.js');
    writeFileSync(bundleFile, await bundleWorkflows());
    const workerOpts = {
      address: k.address,
      taskQueue,
      dbFile: path.join(k.dir, 'dim.db'),
      fileRoots: [k.root],
      bundleFile,
      tuning: { concurrency: 4, fsync: false },
    };
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 96; i++)
      files[`f-${String(i).padStart(3, '0')}.bin`] = randomBytes(64 * KiB);
    const srcDir = path.join(k.root, 'src', 'bw-kill');
    writeTree(srcDir, files);
    const before = treeDigest(srcDir);
    const total = 96 * 64 * KiB;
    const id = await createDataset(k, `bw-kill-${randomUUID()}`, fileUri(srcDir), total);

    const first = await startChildWorker(workerOpts);
    children.push(first);
    const plan = await k.request('POST', '/plan-migration', {
      dataset_id: id,
      target_location: fileUri(path.join(k.root, 'dst', 'bw-kill')),
      max_bytes_per_s: 64 * KiB,
    });
    expect(plan.status).toBe(201);
    const { job_id: jobId, workflow_id: workflowId } = plan.body as {
      job_id: string;
      workflow_id: string;
    };
    await waitForJob(
      k,
      jobId,
      (j) => j.status === 'copying' && Number(j.bytes_done) > 3 * 64 * KiB,
      60_000,
      'a few objects copied',
    );
    first.child.kill('SIGKILL');
    await first.exited;

    // No worker runs: the signal waits in Temporal, the row takes the limit at once.
    const fast = 8 * MiB;
    const raised = await k.request('POST', `/jobs/${jobId}/bandwidth`, { max_bytes_per_s: fast });
    expect(raised).toMatchObject({ status: 202, body: { max_bytes_per_s: fast } });
    const atRaise = await waitForJob(k, jobId, () => true);
    expect(atRaise.status).toBe('copying');
    expect(Number(atRaise.bytes_done)).toBeLessThan(total);

    // A new worker (a new process: it replays the history, the signal included) finishes it.
    children.push(await startChildWorker(workerOpts));
    const done = await waitForStatus(k, jobId, 'completed', 120_000);
    expect(done).toMatchObject({ max_bytes_per_s: fast, bytes_per_s: null });
    expect(treeDigest(path.join(k.root, 'dst', 'bw-kill'))).toEqual(before);
    const p = await k.client.workflow.getHandle(workflowId).query(progressQuery);
    expect(p).toMatchObject({
      status: 'completed',
      max_bytes_per_s: fast,
      bandwidth_set_by: 'anonymous',
    });
    // The retried copy kept what the killed one had written.
    expect(p.copy_attempts).toBeGreaterThanOrEqual(2);
    expect(p.bytes_resumed).toBeGreaterThan(0);
    expect(p.bytes_copied + p.bytes_resumed).toBe(total);
  } finally {
    for (const c of children) c.child.kill('SIGKILL');
    await k.close();
  }
});
