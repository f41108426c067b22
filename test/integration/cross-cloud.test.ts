import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ObjectInfo } from '../../storage';
import type { GcsDriver } from '../../storage/drivers/gcs';
import type { S3Driver } from '../../storage/drivers/s3';
import { progressQuery } from '../../workflows/migration-contract';
import { startChildWorker, writeRandomFile, type ChildWorker } from '../support/child-worker';
import {
  createBuckets,
  GCS_ENDPOINT,
  MINIO,
  rcloneEnv,
  rclonePath,
  rcloneRemote,
  removeBuckets,
  S3_ENDPOINT,
} from '../support/cloud';
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
 * Cross-cloud migrations on the real servers dev/services starts: the local file system,
 * MinIO (S3) and fake-gcs-server (GCS), through the real workflow on the Temporal dev server.
 *
 * One dataset of 1,000 small objects (nested keys, an empty one, odd names) and one 200 MiB
 * object travels all six directions: file → s3 → gs → file → gs → s3 → file. Each move must
 * complete, leave every manifest row verified, switch the dataset, write the requested storage
 * class, and pass an independent `rclone check --download` that reads both sides by content
 * (Debian's rclone 1.60 knows only MD5 for S3/GCS, and a multipart ETag is no MD5).
 * rclone comes from `dev/tools path rclone` (apt-get install once when missing).
 *
 * Then, for file → s3: a cancel mid-copy removes everything written (no stray multipart
 * upload either) and leaves the source untouched; a worker killed with `kill -9` mid-copy is
 * replaced and the job completes, keeping the objects finished before the kill.
 */
jest.setTimeout(300_000);

const MiB = 1024 * 1024;
const BIG = 200 * MiB;
const SMALL = 1000;

const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const bucket = `dim-xcloud-${run}`; // the same name on MinIO and on fake-gcs-server
const endpoints = { s3: S3_ENDPOINT, gcs: GCS_ENDPOINT };

let bundle: string;
let h: Harness;
let rclone: string;
let rcloneEnvironment: NodeJS.ProcessEnv;
const timings: string[] = [];

const s3 = () => h.storage.driverFor('s3://any-bucket') as S3Driver;
const gcs = () => h.storage.driverFor('gs://any-bucket') as GcsDriver;

/** `rclone check` by content of two locations (dim URIs): both sides are read in full. */
async function rcloneCheck(a: string, b: string): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      rclone,
      [
        'check',
        rcloneRemote(a),
        rcloneRemote(b),
        '--download',
        '--checkers',
        '16',
        '--log-level',
        'NOTICE',
      ],
      { env: rcloneEnvironment, maxBuffer: 16 * MiB },
    );
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`rclone check ${a} ${b} failed: ${e.message}\n${e.stdout}\n${e.stderr}`);
  }
}

/** Seconds spent copying and verifying, from the job's migration_status events. */
async function phases(jobId: string): Promise<string> {
  const rows = await h.store.db
    .selectFrom('event_log')
    .select('value')
    .where('topic', '=', 'migration_status')
    .orderBy('seq')
    .execute();
  const first = new Map<string, number>();
  for (const r of rows) {
    const m = JSON.parse(r.value) as { job_id: string; status: string; ts: string };
    if (m.job_id === jobId && !first.has(m.status)) first.set(m.status, Date.parse(m.ts));
  }
  const span = (a: string, b: string) =>
    (((first.get(b) ?? NaN) - (first.get(a) ?? NaN)) / 1000).toFixed(1);
  return `copy ${span('copying', 'verifying')} s, verify ${span('verifying', 'switching')} s`;
}

async function listing(uri: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of h.storage.driverFor(uri).list(uri)) out.push(o);
  return out;
}

/**
 * Keys under `prefix` with an unfinished multipart upload. MinIO filters uploads only by an
 * exact key, not by a prefix, so the whole bucket is listed and filtered here.
 */
async function incompleteUploads(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const r = await s3().client.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
    );
    keys.push(...(r.Uploads ?? []).map((u) => u.Key ?? '?').filter((k) => k.startsWith(prefix)));
    if (!r.IsTruncated) return keys;
    keyMarker = r.NextKeyMarker;
    uploadIdMarker = r.NextUploadIdMarker;
  }
}

beforeAll(async () => {
  rclone = rclonePath();
  bundle = await bundleWorkflows();
  h = await startHarness({
    name: 'cross-cloud',
    taskQueue: `cross-cloud-${randomUUID()}`,
    bundle,
    endpoints,
    storageOverrides: { s3: { credentials: MINIO } },
  });
  // fake-gcs-server needs no project; the drivers run without one, as `dim up` would.
  await createBuckets(s3(), bucket);
  rcloneEnvironment = rcloneEnv(h.dir);
}, 120_000);

afterAll(async () => {
  if (timings.length) console.log(`cross-cloud timings:\n${timings.join('\n')}`);
  if (h) {
    await removeBuckets(s3(), gcs(), bucket);
    await h.close();
  }
}, 120_000);

describe('six directions between file, s3 and gs: 1,000 small objects and one of 200 MiB', () => {
  let datasetId: number;
  let origin: string;
  let originDigest: Record<string, string>;

  beforeAll(async () => {
    origin = path.join(h.root, 'origin');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < SMALL - 2; i++) {
      const key = `small/${i % 10}/${Math.floor(i / 10) % 10}/obj-${String(i).padStart(4, '0')}.dat`;
      files[key] = randomBytes((i * 37) % 8192);
    }
    files['small/empty'] = Buffer.alloc(0);
    files['odd names/ünï cödé + space.txt'] = Buffer.from('unicode and spaces');
    writeTree(origin, files);
    writeRandomFile(path.join(origin, 'big', 'blob-200.bin'), BIG);
    originDigest = treeDigest(origin);
    expect(Object.keys(originDigest)).toHaveLength(SMALL + 1);
    datasetId = await createDataset(h, 'xcloud', fileUri(origin));
  }, 120_000);

  const f = (name: string) => fileUri(path.join(h.root, 'moved', name));
  const s = (name: string) => `s3://${bucket}/${run}/${name}`;
  const g = (name: string) => `gs://${bucket}/${run}/${name}`;

  // Each move starts where the previous one switched the dataset to.
  const moves: Array<{ title: string; to: () => string; storageClass: string; want?: string }> = [
    { title: 'file → s3', to: () => s('m1'), storageClass: 'reduced-redundancy' },
    { title: 's3 → gs', to: () => g('m2'), storageClass: 'nearline' },
    { title: 'gs → file', to: () => f('m3'), storageClass: 'standard' },
    { title: 'file → gs', to: () => g('m4'), storageClass: 'COLDLINE' },
    { title: 'gs → s3', to: () => s('m5'), storageClass: 'STANDARD' },
    { title: 's3 → file', to: () => f('m6'), storageClass: 'standard' },
  ];

  for (const move of moves) {
    test(move.title, async () => {
      const ds = (await h.request('GET', `/datasets/${datasetId}`)).body as {
        path_uri: string;
        version: number;
      };
      const from = ds.path_uri;
      const to = move.to();
      const t0 = Date.now();
      const r = await h.request('POST', '/plan-migration', {
        dataset_id: datasetId,
        target_location: to,
        storage_class: move.storageClass,
      });
      expect({ status: r.status, body: r.body as unknown }).toMatchObject({ status: 201 });
      const jobId = (r.body as { job_id: string }).job_id;
      const done = await waitForJob(
        h,
        jobId,
        (j) => ['completed', 'failed', 'cancelled'].includes(j.status),
        240_000,
        'the end',
      );
      const migrated = Date.now() - t0;
      expect({ status: done.status, error: done.error }).toEqual({
        status: 'completed',
        error: null,
      });
      expect(Number(done.objects_total)).toBe(SMALL + 1);
      expect(Number(done.objects_done)).toBe(SMALL + 1);

      // Verified, every object, and switched.
      const rows = await h.store.db
        .selectFrom('migration_objects')
        .select(['state'])
        .where('job_id', '=', jobId)
        .execute();
      expect(rows).toHaveLength(SMALL + 1);
      expect(new Set(rows.map((x) => x.state))).toEqual(new Set(['verified']));
      const after = (await h.request('GET', `/datasets/${datasetId}`)).body as {
        path_uri: string;
        version: number;
        object_count: number;
      };
      expect(after).toMatchObject({
        path_uri: to,
        version: ds.version + 1,
        object_count: SMALL + 1,
      });

      // The requested storage class, on every object.
      const objects = await listing(to);
      expect(objects).toHaveLength(SMALL + 1);
      const scheme = h.storage.parse(to).scheme;
      if (scheme !== 'file') {
        const want = move.storageClass.toUpperCase().replace(/-/g, '_');
        expect(new Set(objects.map((o) => o.storageClass))).toEqual(new Set([want]));
        expect((await h.storage.driverFor(to).stat(to, 'big/blob-200.bin'))?.storageClass).toBe(
          want,
        );
      }

      // Independently: rclone reads both sides and compares content.
      const t1 = Date.now();
      const out = await rcloneCheck(from, to);
      expect(out).toMatch(/0 differences found/);
      expect(out).toMatch(new RegExp(`${SMALL + 1} matching files`));
      timings.push(
        `  ${move.title.padEnd(10)} migration ${(migrated / 1000).toFixed(1)} s (${await phases(jobId)}), rclone check ${((Date.now() - t1) / 1000).toFixed(1)} s`,
      );
    });
  }

  test('after the round trips the data is what it was, and every source is intact', () => {
    expect(treeDigest(path.join(h.root, 'moved', 'm6'))).toEqual(originDigest);
    expect(treeDigest(path.join(h.root, 'moved', 'm3'))).toEqual(originDigest);
    expect(treeDigest(origin)).toEqual(originDigest);
  });
});

test('a storage class the server refuses fails the job clearly, and nothing is left behind', async () => {
  // MinIO without configured tiers accepts only STANDARD and REDUCED_REDUNDANCY.
  const src = path.join(h.root, 'refused-class');
  writeTree(src, { 'a.txt': 'a', 'b/c.bin': randomBytes(10_000) });
  const id = await createDataset(h, 'refused-class', fileUri(src));
  const dest = `s3://${bucket}/${run}/refused-class`;
  const r = await h.request('POST', '/plan-migration', {
    dataset_id: id,
    target_location: dest,
    storage_class: 'glacier',
  });
  expect(r.status).toBe(201);
  const jobId = (r.body as { job_id: string }).job_id;
  const failed = await waitForStatus(h, jobId, 'failed', 60_000);
  expect(failed.error).toMatch(/^invalid_storage_class: .*storage class/);
  expect(await listing(dest)).toEqual([]);
  const ds = (await h.request('GET', `/datasets/${id}`)).body as { path_uri: string };
  expect(ds.path_uri).toBe(fileUri(src));
});

describe('cancel and kill -9 mid-copy (file → s3, file → gs)', () => {
  let hf: Harness;
  const children: ChildWorker[] = [];
  let workerOpts: Record<string, unknown>;
  const awsEnv = {
    AWS_ACCESS_KEY_ID: MINIO.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MINIO.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };

  beforeAll(async () => {
    const taskQueue = `cross-cloud-faults-${randomUUID()}`;
    hf = await startHarness({
      name: 'cross-cloud-faults',
      taskQueue,
      bundle,
      endpoints,
      storageOverrides: { s3: { credentials: MINIO } },
      worker: false,
    });
    const bundleFile = path.join(hf.dir, 'workflow-bundle.js');
    writeFileSync(bundleFile, bundle);
    workerOpts = {
      address: hf.address,
      taskQueue,
      dbFile: path.join(hf.dir, 'dim.db'),
      fileRoots: [hf.root],
      bundleFile,
      endpoints,
      // Paced so that the faults land mid-copy; two objects at a time.
      tuning: { maxBytesPerSecond: 40 * MiB, concurrency: 2, fsync: false },
    };
  });

  afterAll(async () => {
    for (const c of children) c.child.kill('SIGKILL');
    await hf?.close();
  });

  /** A worker whose S3 credentials come from the SDK's standard chain (AWS_* variables). */
  async function worker(): Promise<ChildWorker> {
    const w = await startChildWorker(workerOpts, awsEnv);
    children.push(w);
    return w;
  }

  function makeSource(name: string, objects: number, size: number): string {
    const dir = path.join(hf.root, 'src', name);
    for (let i = 0; i < objects; i++) writeRandomFile(path.join(dir, `part-${i}.bin`), size);
    writeTree(dir, { 'meta/readme.txt': 'small', 'meta/empty': '' });
    return dir;
  }

  test.each([
    ['s3', 'reduced-redundancy'],
    ['gs', 'coldline'],
  ])(
    'cancel mid-copy to %s: the destination holds nothing (no unfinished upload), the source is untouched',
    async (scheme, storageClass) => {
      const w = await worker();
      // A large object (resumable multipart upload on s3, resumable upload on gs) and three more.
      const src = makeSource(`cancel-${scheme}`, 3, 24 * MiB);
      writeRandomFile(path.join(src, 'big.bin'), 96 * MiB);
      const before = treeDigest(src);
      const id = await createDataset(hf, `cancel-${scheme}`, fileUri(src));
      const dest = `${scheme}://${bucket}/${run}/cancel`;
      const r = await hf.request('POST', '/plan-migration', {
        dataset_id: id,
        target_location: dest,
        storage_class: storageClass,
      });
      expect(r.status).toBe(201);
      const jobId = (r.body as { job_id: string }).job_id;
      await waitForJob(
        hf,
        jobId,
        (j) => j.status === 'copying' && Number(j.bytes_done) > 50 * MiB,
        60_000,
        'copying > 50 MiB',
      );
      expect((await listing(dest)).length).toBeGreaterThan(0); // whole objects already landed
      if (scheme === 's3') {
        // The large object's upload is under way (it outlives an attempt, for resuming).
        expect(await incompleteUploads(`${run}/cancel/`)).toContain(`${run}/cancel/big.bin`);
      }

      const c = await hf.request('POST', `/jobs/${jobId}/cancel`, { reason: 'not now' });
      expect(c.status).toBe(202);
      const done = await waitForStatus(hf, jobId, 'cancelled', 60_000);
      expect(done.error).toBe('not now');
      expect(Number(done.bytes_done)).toBeLessThan(3 * 24 * MiB + 96 * MiB);
      expect(await listing(dest)).toEqual([]);
      if (scheme === 's3') expect(await incompleteUploads(`${run}/cancel/`)).toEqual([]);
      expect(treeDigest(src)).toEqual(before);
      const ds = (await hf.request('GET', `/datasets/${id}`)).body as { path_uri: string };
      expect(ds.path_uri).toBe(fileUri(src));
      w.child.kill('SIGTERM');
      await w.exited;
    },
  );

  // s3 resumes inside the large object (its multipart upload outlives the worker); gs keeps
  // the objects finished before the kill and sends the large one again (its resumable upload
  // sessions are not carried across attempts: see GcsDriver).
  test.each([
    { scheme: 's3', storageClass: 'reduced-redundancy', midObject: true },
    { scheme: 'gs', storageClass: 'coldline', midObject: false },
  ])(
    'kill -9 mid-copy to $scheme: another worker completes the job (resuming mid-object: $midObject)',
    async ({ scheme, storageClass, midObject }) => {
      // One object large enough for a resumable write (>= 64 MiB), four smaller ones.
      const src = makeSource(`kill-${scheme}`, 4, 16 * MiB);
      writeRandomFile(path.join(src, 'big.bin'), 160 * MiB);
      const whole = 4 * 16 * MiB + 'small'.length;
      const total = whole + 160 * MiB;
      const before = treeDigest(src);
      const id = await createDataset(hf, `kill-${scheme}`, fileUri(src));
      const dest = `${scheme}://${bucket}/${run}/kill`;
      const first = await worker();
      const r = await hf.request('POST', '/plan-migration', {
        dataset_id: id,
        target_location: dest,
        storage_class: storageClass,
      });
      expect(r.status).toBe(201);
      const jobId = (r.body as { job_id: string }).job_id;
      await waitForJob(
        hf,
        jobId,
        (j) => j.status === 'copying' && Number(j.bytes_done) > 130 * MiB,
        60_000,
        'copying > 130 MiB',
      );
      first.child.kill('SIGKILL');
      await first.exited;
      expect((await waitForJob(hf, jobId, () => true)).status).toBe('copying');

      const second = await worker();
      const done = await waitForStatus(hf, jobId, 'completed', 120_000);
      const p = await hf.client.workflow.getHandle(done.workflow_id).query(progressQuery);
      expect(p.copy_attempts).toBeGreaterThanOrEqual(2);
      expect(p.bytes_copied + p.bytes_resumed).toBe(total);
      timings.push(
        `  kill -9 ${scheme} attempts ${p.copy_attempts}, kept ${(p.bytes_resumed / MiB).toFixed(0)} MiB, sent again ${(p.bytes_copied / MiB).toFixed(0)} MiB of ${(total / MiB).toFixed(0)} MiB`,
      );
      // The small objects were finished before the kill and kept; on s3, so were the parts of
      // the large one stored before the kill (checked by CRC32C, not sent again).
      if (midObject) {
        expect(p.bytes_resumed).toBeGreaterThan(whole + 16 * MiB);
        expect(p.bytes_copied).toBeLessThan(total - whole - 16 * MiB);
      } else {
        // Whole objects only (the two tiny ones, and the 16 MiB ones finished before the kill).
        expect(p.bytes_resumed).toBeGreaterThan(16 * MiB);
        expect((p.bytes_resumed - 'small'.length) % (16 * MiB)).toBe(0);
      }

      // The copy is whole, in its class, and nothing half-written is left behind.
      const objects = await listing(dest);
      expect(objects.map((o) => o.key).sort()).toEqual(Object.keys(before).sort());
      const want = storageClass.toUpperCase().replace(/-/g, '_');
      expect(new Set(objects.map((o) => o.storageClass))).toEqual(new Set([want]));
      if (scheme === 's3') expect(await incompleteUploads(`${run}/kill/`)).toEqual([]);
      const out = await rcloneCheck(fileUri(src), dest);
      expect(out).toMatch(/0 differences found/);
      expect(treeDigest(src)).toEqual(before);
      second.child.kill('SIGTERM');
      await second.exited;
    },
  );
});
