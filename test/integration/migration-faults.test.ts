import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../runtime/log';
import {
  resolveTemporalBinary,
  startTemporalDevServer,
  type DevServer,
} from '../../runtime/temporal-dev';
import { progressQuery } from '../../workflows/migration-contract';
import { startChildWorker, writeRandomFile, type ChildWorker } from '../support/child-worker';
import { freePort, pidsMatching } from '../support/dim-process';
import {
  bundleWorkflows,
  createDataset,
  fileUri,
  listAll,
  maybeSaveHistory,
  startHarness,
  treeDigest,
  waitForJob,
  waitForStatus,
  type Harness,
} from '../support/migration';

/**
 * Faults in the middle of a migration (invariant 8): the worker process is stopped
 * (SIGTERM) and killed (`kill -9`) mid-copy of a 500 MB dataset, and the Temporal server
 * itself is killed and restarted mid-job. Each time the job completes, byte for byte,
 * and the copy resumes instead of starting over.
 */
jest.setTimeout(240_000);

const MiB = 1024 * 1024;
let bundle: string;

beforeAll(async () => {
  bundle = await bundleWorkflows();
});

describe('a worker stopped and killed mid-copy of 500 MB', () => {
  let h: Harness;
  const children: ChildWorker[] = [];

  afterAll(async () => {
    for (const c of children) c.child.kill('SIGKILL');
    await h?.close();
  });

  test('SIGTERM, then kill -9: the job completes and the copy resumed rather than restarted', async () => {
    const taskQueue = `faults-kill-${randomUUID()}`;
    h = await startHarness({ name: 'faults-kill', taskQueue, bundle, worker: false });
    const bundleFile = path.join(h.dir, 'workflow-bundle.js');
    writeFileSync(bundleFile, bundle);
    const src = path.join(h.root, 'src', 'big');
    writeRandomFile(path.join(src, 'one-300.bin'), 300 * MiB);
    for (let i = 0; i < 4; i++) writeRandomFile(path.join(src, `parts/p${i}.bin`), 50 * MiB);
    const total = 500 * MiB;
    const before = treeDigest(src);
    const workerOpts = {
      address: '127.0.0.1:7233',
      taskQueue,
      dbFile: path.join(h.dir, 'dim.db'),
      fileRoots: [h.root],
      bundleFile,
      // Paced so that the faults land mid-copy; checkpoints every 250 ms.
      tuning: { maxBytesPerSecond: 40 * MiB, checkpointMs: 250, fsync: false },
    };

    const id = await createDataset(h, 'big', fileUri(src), total);
    const first = await startChildWorker(workerOpts);
    children.push(first);
    const r = await h.request('POST', '/plan-migration', {
      dataset_id: id,
      target_location: fileUri(path.join(h.root, 'dst', 'big')),
      storage_class: 'standard',
    });
    expect(r.status).toBe(201);
    const jobId = (r.body as { job_id: string }).job_id;

    // 1. SIGTERM: the worker ends the attempt with its progress recorded; another worker
    //    picks it up at once (no heartbeat timeout to wait for).
    await waitForJob(h, jobId, (j) => Number(j.bytes_done) > 80 * MiB, 60_000, '80 MiB copied');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await startChildWorker(workerOpts);
    children.push(second);
    // 2. kill -9 while the second attempt copies.
    await waitForJob(h, jobId, (j) => Number(j.bytes_done) > 250 * MiB, 90_000, '250 MiB copied');
    second.child.kill('SIGKILL');
    await second.exited;
    const atKill = await waitForJob(h, jobId, () => true);
    expect(atKill.status).toBe('copying');

    const third = await startChildWorker(workerOpts);
    children.push(third);
    const done = await waitForStatus(h, jobId, 'completed', 150_000);

    expect(treeDigest(path.join(h.root, 'dst', 'big'))).toEqual(before);
    expect(listAll(path.join(h.root, 'dst', 'big'))).toEqual([
      'one-300.bin',
      'parts',
      'parts/p0.bin',
      'parts/p1.bin',
      'parts/p2.bin',
      'parts/p3.bin',
    ]);
    const p = await h.client.workflow.getHandle(done.workflow_id).query(progressQuery);
    // The attempt that finished wrote only what was missing: whole objects the manifest
    // vouched for were skipped, the large one resumed from its last verified chunk.
    expect(p.copy_attempts).toBeGreaterThanOrEqual(3);
    expect(p.bytes_copied + p.bytes_resumed).toBe(total);
    expect(p.bytes_resumed).toBeGreaterThan(150 * MiB);
    expect(p.bytes_copied).toBeLessThan(total - 150 * MiB);
    const history = await h.client.workflow.getHandle(done.workflow_id).fetchHistory();
    const failures = (history.events ?? []).filter(
      (e) => e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes,
    );
    expect(failures).toHaveLength(0); // retries happen inside the activity's retry policy
    await maybeSaveHistory(h, done.workflow_id, 'resumed-after-sigterm-and-kill');
  });
});

describe('the Temporal server restarted mid-job', () => {
  let h: Harness | undefined;
  let dev: DevServer | undefined;

  afterAll(async () => {
    await h?.close();
    await dev?.process.stop(2000);
  });

  test('the job completes', async () => {
    const log = createLogger('error');
    const bin = await resolveTemporalBinary({
      configured: undefined,
      toolsDir: '/root/.cache/dim',
      pathEnv: process.env.PATH,
    });
    const port = await freePort();
    const uiPort = await freePort();
    const dir = path.join(tmpdir(), `dim-faults-temporal-${randomUUID()}`);
    const dbFile = path.join(dir, 'temporal.db');
    const start = () =>
      startTemporalDevServer({
        bin,
        port,
        uiPort,
        dbFile,
        namespace: 'default',
        logFile: path.join(dir, 'temporal.log'),
        log,
      });
    dev = await start();

    h = await startHarness({
      name: 'faults-restart',
      taskQueue: `faults-restart-${randomUUID()}`,
      bundle,
      address: dev.address,
      tuning: { maxBytesPerSecond: 10 * MiB, checkpointMs: 250 },
    });
    const src = path.join(h.root, 'src', 'mid');
    for (let i = 0; i < 5; i++) writeRandomFile(path.join(src, `f${i}.bin`), 8 * MiB);
    const before = treeDigest(src);
    const id = await createDataset(h, 'mid', fileUri(src));
    const r = await h.request('POST', '/plan-migration', {
      dataset_id: id,
      target_location: fileUri(path.join(h.root, 'dst', 'mid')),
      storage_class: 'standard',
    });
    expect(r.status).toBe(201);
    const jobId = (r.body as { job_id: string }).job_id;
    await waitForJob(
      h,
      jobId,
      (j) => j.status === 'copying' && Number(j.bytes_done) > 5 * MiB,
      60_000,
      'copying',
    );

    // kill -9 the server process itself (not its supervisor), then start it again on the same database.
    const pids = (await pidsMatching(dbFile)).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'temporal';
      } catch {
        return false;
      }
    });
    expect(pids.length).toBe(1);
    process.kill(pids[0]!, 'SIGKILL');
    await dev.process.exited;
    await new Promise((res) => setTimeout(res, 2000));
    dev = await start();

    await waitForStatus(h, jobId, 'completed', 120_000);
    expect(treeDigest(path.join(h.root, 'dst', 'mid'))).toEqual(before);
    const ds = (await h.request('GET', `/datasets/${id}`)).body as { path_uri: string };
    expect(ds.path_uri).toBe(fileUri(path.join(h.root, 'dst', 'mid')));
  });
});
