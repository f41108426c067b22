import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveTemporalBinary } from '../../runtime/temporal-dev';
import { jobWritesLease } from '../../activities/write-lease';
import {
  bundleWorkflows,
  createDataset,
  fileUri,
  listAll,
  startHarness,
  treeDigest,
  waitForJob,
  waitForStatus,
  writeTree,
  type Harness,
} from '../support/migration';

/**
 * What an operator does to a migration in the Temporal Web UI, done with the real `temporal`
 * CLI against the dev server (the Web UI sends the same requests): reset a failed run, cancel
 * a running one, terminate one mid-copy. The job mirror (migration_jobs, audit_log) follows
 * each, and no half-written destination is left. The copy is capped at 20 MB/s so that the
 * cancel and the terminate land mid-copy.
 */
jest.setTimeout(180_000);

let h: Harness;
let temporalBin: string;
const MB = 1024 * 1024;

beforeAll(async () => {
  temporalBin = await resolveTemporalBinary({
    configured: undefined,
    toolsDir: path.join(homedir(), '.cache', 'dim'),
    pathEnv: process.env.PATH,
  });
  h = await startHarness({
    name: 'temporal-ui-actions',
    taskQueue: `temporal-ui-${randomUUID()}`,
    bundle: await bundleWorkflows(),
    reconcileMs: 200,
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

/** Runs the real `temporal` CLI (asynchronously: the worker in this process keeps working). */
async function temporalCli(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    temporalBin,
    [...args, '--address', h.address, '--namespace', 'default'],
    { maxBuffer: 16 << 20 },
  );
  return stdout;
}

const src = (name: string) => path.join(h.root, 'src', name);
const dst = (name: string) => path.join(h.root, 'dst', name);

async function plan(datasetId: number, name: string) {
  const r = await h.request('POST', '/plan-migration', {
    dataset_id: datasetId,
    target_location: fileUri(dst(name)),
    storage_class: 'standard',
    job_key: `ui-${name}-${randomUUID()}`,
  });
  expect(r.status).toBe(201);
  return r.body as { job_id: string; workflow_id: string };
}

async function audit(jobId: string) {
  const rows = await h.store.db
    .selectFrom('audit_log')
    .select(['actor', 'action', 'details'])
    .where('target', '=', `job:${jobId}`)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
}

async function manifest(jobId: string) {
  return h.store.db
    .selectFrom('migration_objects')
    .select('key')
    .where('job_id', '=', jobId)
    .execute();
}

async function lease(jobId: string) {
  return h.store.db
    .selectFrom('leases')
    .selectAll()
    .where('name', '=', jobWritesLease(jobId))
    .executeTakeFirst();
}

/** Six 12 MB files and a small one: about 4 s of copying at 20 MB/s. */
function bigTree(name: string): Record<string, string> {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 6; i++) files[`big/${i}.bin`] = randomBytes(12 * MB);
  files['small.txt'] = Buffer.from('small');
  writeTree(src(name), files);
  return treeDigest(src(name));
}

test('a failed migration reset with `temporal workflow reset` runs again: new run id, error cleared, audited', async () => {
  // Fails: the source the dataset names is not there (yet).
  const id = await createDataset(h, 'reset', fileUri(src('reset')), 4096);
  const job = await plan(id, 'reset');
  const failed = await waitForStatus(h, job.job_id, 'failed');
  expect(failed.error).toMatch(/^source_missing: /);
  const handle = h.client.workflow.getHandle(job.workflow_id);
  await waitForJob(h, job.job_id, (j) => j.run_id !== null);
  const firstRun = (await handle.describe()).runId;
  expect(failed.run_id).toBe(firstRun);

  // The operator restores the source and resets the run, as the Web UI's "Reset" does.
  writeTree(src('reset'), { 'a.txt': 'alpha', 'b/c.bin': randomBytes(4096 - 5) });
  const before = treeDigest(src('reset'));
  await temporalCli(
    'workflow',
    'reset',
    '--workflow-id',
    job.workflow_id,
    '--type',
    'FirstWorkflowTask',
    '--reason',
    'source restored',
    '--yes',
  );

  const running = await waitForJob(
    h,
    job.job_id,
    (j) => j.run_id !== firstRun,
    60_000,
    'a new run',
  );
  expect(['queued', 'copying', 'verifying', 'switching', 'completed']).toContain(running.status);
  expect(running.error).toBeNull();
  const done = await waitForStatus(h, job.job_id, 'completed');
  await handle.result(); // the latest run, which closes just after it records `completed`
  const latest = await handle.describe();
  expect(latest.runId).not.toBe(firstRun);
  expect(latest.status.name).toBe('COMPLETED');
  expect(done).toMatchObject({ run_id: latest.runId, error: null, objects_done: 2 });
  expect(Number(done.bytes_done)).toBe(4096);
  expect(treeDigest(dst('reset'))).toEqual(before);
  const ds = (await h.request('GET', `/datasets/${id}`)).body as { path_uri: string };
  expect(ds.path_uri).toBe(fileUri(dst('reset')));

  const trail = await audit(job.job_id);
  expect(trail.map((r) => r.action)).toEqual(['job.planned', 'job.reset']);
  expect(trail[1]).toMatchObject({
    actor: 'temporal',
    details: {
      from_run_id: firstRun,
      run_id: latest.runId,
      previous_status: 'failed',
      previous_error: failed.error,
    },
  });
});

test('a cancel from `temporal workflow cancel` mid-copy: cancelled, the destination cleaned, audited', async () => {
  const before = bigTree('cancel');
  const id = await createDataset(h, 'cancel', fileUri(src('cancel')));
  const job = await plan(id, 'cancel');
  await waitForJob(
    h,
    job.job_id,
    (j) => j.status === 'copying' && Number(j.bytes_done) > 4 * MB,
    60_000,
    'copying > 4 MB',
  );
  expect(listAll(dst('cancel')).length).toBeGreaterThan(0);

  await temporalCli('workflow', 'cancel', '--workflow-id', job.workflow_id);
  const done = await waitForStatus(h, job.job_id, 'cancelled');
  expect(done).toMatchObject({
    cancelled_by: 'temporal',
    error: 'cancellation requested through Temporal',
  });
  expect(Number(done.bytes_done)).toBeLessThan(72 * MB);
  expect(existsSync(dst('cancel'))).toBe(false);
  expect(await manifest(job.job_id)).toEqual([]);
  expect(treeDigest(src('cancel'))).toEqual(before);
  const handle = h.client.workflow.getHandle(job.workflow_id);
  await expect(handle.result()).rejects.toThrow(); // it closes just after it records `cancelled`
  expect((await handle.describe()).status.name).toBe('CANCELLED');
  expect((await audit(job.job_id)).map((r) => [r.actor, r.action])).toEqual([
    ['anonymous', 'job.planned'],
    ['temporal', 'job.cancelled'],
  ]);
  expect(await lease(job.job_id)).toBeUndefined();
});

test('a terminate with `temporal workflow terminate` mid-copy: the reconciler cleans up and ends the job', async () => {
  const before = bigTree('terminate');
  const id = await createDataset(h, 'terminate', fileUri(src('terminate')));
  const job = await plan(id, 'terminate');
  await waitForJob(
    h,
    job.job_id,
    (j) => j.status === 'copying' && Number(j.bytes_done) > 4 * MB,
    60_000,
    'copying > 4 MB',
  );
  expect(listAll(dst('terminate')).length).toBeGreaterThan(0);
  expect(await lease(job.job_id)).toMatchObject({ holder: expect.stringMatching(/^copy:/) });

  await temporalCli(
    'workflow',
    'terminate',
    '--workflow-id',
    job.workflow_id,
    '--reason',
    'stuck, stopping it',
  );
  const done = await waitForStatus(h, job.job_id, 'cancelled');
  const desc = await h.client.workflow.getHandle(job.workflow_id).describe();
  expect(desc.status.name).toBe('TERMINATED');
  expect(done.run_id).toBe(desc.runId);
  expect(done.error).toBe('terminated in Temporal: stuck, stopping it');
  expect(done.cancelled_by).toMatch(/\S/);

  // The terminated run's copy has stopped (it released the job's write lease before the
  // cleanup could take it), so nothing writes there any more; and nothing is left:
  // not a file, not a temporary file, not a directory.
  expect([...h.worker!.metrics.active.values()].filter((a) => a.job_id === job.job_id)).toEqual([]);
  expect(listAll(dst('terminate'))).toEqual([]);
  expect(existsSync(dst('terminate'))).toBe(false);
  expect(await manifest(job.job_id)).toEqual([]);
  expect(treeDigest(src('terminate'))).toEqual(before);
  const ds = (await h.request('GET', `/datasets/${id}`)).body as {
    path_uri: string;
    version: number;
  };
  expect(ds).toMatchObject({ path_uri: fileUri(src('terminate')), version: 1 });
  expect(await lease(job.job_id)).toBeUndefined();

  const trail = await audit(job.job_id);
  expect(trail.map((r) => r.action)).toEqual(['job.planned', 'job.terminated']);
  expect(trail[1]).toMatchObject({
    actor: done.cancelled_by,
    details: {
      run_id: desc.runId,
      workflow_status: 'TERMINATED',
      reason: 'stuck, stopping it',
      previous_status: 'copying',
      switched: false,
    },
  });
  expect(trail[1]!.details.deleted_objects).toBeGreaterThan(0);

  // The API's cancel and retry see an ended job; a reset from the Web UI may still run it.
  expect((await h.request('POST', `/jobs/${job.job_id}/cancel`)).status).toBe(409);
  await temporalCli(
    'workflow',
    'reset',
    '--workflow-id',
    job.workflow_id,
    '--type',
    'FirstWorkflowTask',
    '--reason',
    'run it after all',
    '--yes',
  );
  const again = await waitForStatus(h, job.job_id, 'completed');
  expect(again.error).toBeNull();
  expect(again.cancelled_by).toBeNull();
  expect(treeDigest(dst('terminate'))).toEqual(before);
  expect((await audit(job.job_id)).map((r) => r.action)).toEqual([
    'job.planned',
    'job.terminated',
    'job.reset',
  ]);
});
