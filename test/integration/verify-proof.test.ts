import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { copyDataset } from '../../activities/copy';
import type { MoverEnv } from '../../activities/mover-env';
import { verifyDataset } from '../../activities/verify';
import { loadConfig } from '../../config';
import { silentLogger } from '../../runtime/log';
import { createStorage, type Storage } from '../../storage';
import type { GcsDriver } from '../../storage/drivers/gcs';
import type { S3Driver } from '../../storage/drivers/s3';
import { insertDataset } from '../../store/datasets';
import { openDatabase, type OpenedDb } from '../../store/db';
import { loadManifest } from '../../store/jobs';
import { insertJobIfFree } from '../../store/overlap';
import { createBuckets, GCS_ENDPOINT, MINIO, removeBuckets, S3_ENDPOINT } from '../support/cloud';
import { datasetRow } from '../support/rows';

/**
 * Verification without a second read (issue 12, item 3), file → s3 on the real MinIO: the
 * copy records each object's CRC32C (the checksum MinIO keeps as FULL_OBJECT), and verify
 * compares MinIO's stored one instead of reading the objects again — no GetObject at all,
 * counted on the driver's own SDK client. An object replaced after the copy fails the verify.
 */
jest.setTimeout(120_000);

const MiB = 1024 * 1024;
const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const bucket = `dim-proof-${run}`;
const base = realpathSync(mkdtempSync(path.join(tmpdir(), 'dim-verify-proof-')));
const fileRoot = path.join(base, 'root');
const never = new AbortController().signal;

const config = loadConfig({
  DIM_DATA_DIR: base,
  DIM_FILE_ROOTS: fileRoot,
  S3_ENDPOINT,
  AWS_REGION: 'us-east-1',
  STORAGE_EMULATOR_HOST: GCS_ENDPOINT,
  GCS_PROJECT_ID: 'dim-test',
});
const storage: Storage = createStorage(config.storage, {
  s3: { credentials: MINIO, partSize: 5 * MiB },
});
const s3 = storage.driverFor(`s3://${bucket}`) as S3Driver;
let store: OpenedDb;
let gets = 0;
let heads = 0;

beforeAll(async () => {
  await createBuckets(s3, bucket);
  // Counts the requests the driver sends (a hook on its own SDK client, no fake in between).
  s3.client.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'GetObjectCommand') gets++;
      if (context.commandName === 'HeadObjectCommand') heads++;
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  store = await openDatabase(path.join(base, 'dim.db'));
});

afterAll(async () => {
  await store.close();
  await removeBuckets(s3, storage.driverFor(`gs://${bucket}`) as GcsDriver, bucket);
  await storage.close();
  rmSync(base, { recursive: true, force: true });
});

async function job(
  name: string,
): Promise<{ env: MoverEnv; input: Parameters<typeof copyDataset>[1] }> {
  const src = path.join(fileRoot, name);
  mkdirSync(path.join(src, 'd'), { recursive: true });
  writeFileSync(path.join(src, 'small.txt'), 'proven by the server');
  writeFileSync(path.join(src, 'd', 'empty'), '');
  // Larger than resumableMinBytes: a resumable multipart upload, FULL_OBJECT CRC32C.
  writeFileSync(path.join(src, 'd', 'big.bin'), randomBytes(12 * MiB + 5));
  const sourceUri = `file://${src}`;
  const destUri = `s3://${bucket}/${name}`;
  const ds = await insertDataset(store.db, datasetRow(name, sourceUri, { size_bytes: 1 }));
  const jobId = `job-${name}-${run}`;
  await insertJobIfFree(store.db, {
    dest_key: `s3:${bucket}/${name}/`,
    job_id: jobId,
    job_key: `key-${jobId}`,
    dataset_id: ds.id,
    source_uri: sourceUri,
    dest_uri: destUri,
    dest_storage_class: 'STANDARD',
    target_tier: 'cold',
    status: 'copying',
    workflow_id: `migration-${jobId}`,
    requested_by: 'test',
    require_approval: 0,
    retire_source: 0,
    bytes_done: 0,
    bytes_total: 0,
    objects_done: 0,
    objects_total: 0,
    error: null,
    run_id: null,
    recommendation_id: null,
    submitted_at: 0,
    updated_at: 0,
  });
  const env: MoverEnv = {
    db: store.db,
    storage,
    log: silentLogger,
    tuning: { resumableMinBytes: 8 * MiB },
  };
  const input = { jobId, datasetId: ds.id, sourceUri, destUri, storageClass: 'STANDARD' };
  await copyDataset(env, input, { signal: never, attempt: 1, progress: () => undefined });
  return { env, input };
}

const verify = ({ env, input }: Awaited<ReturnType<typeof job>>) =>
  verifyDataset(env, input, { signal: never, progress: () => undefined });

it('records CRC32C per object and verifies against MinIO’s stored checksum, reading nothing back', async () => {
  const j = await job('proven');
  const rows = [...(await loadManifest(store.db, j.input.jobId)).values()];
  expect(rows.map((r) => [r.key, r.hash_algorithm])).toEqual([
    ['d/big.bin', 'crc32c'],
    ['d/empty', 'crc32c'],
    ['small.txt', 'crc32c'],
  ]);
  expect(rows.find((r) => r.key === 'd/empty')?.sha256).toBe('00000000');
  gets = 0;
  heads = 0;
  const result = await verify(j);
  expect(result).toMatchObject({ objects: 3, reread: 0, proven: 3 });
  expect(gets).toBe(0);
  expect(heads).toBe(3);
  const after = await loadManifest(store.db, j.input.jobId);
  expect([...after.values()].every((r) => r.state === 'verified')).toBe(true);
});

it('fails the verify of an object replaced after the copy (same size, other bytes)', async () => {
  const j = await job('tampered');
  const name = `tampered/small.txt`;
  // Another writer replaces it, with a correct CRC32C of its own new bytes.
  await s3.client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: name,
      Body: Buffer.from('PROVEN BY THE SERVER'),
      ChecksumAlgorithm: 'CRC32C',
    }),
  );
  gets = 0;
  await expect(verify(j)).rejects.toThrow(
    /tampered\/small\.txt: the server's stored CRC32C [0-9a-f]{8} differs from the copied/,
  );
  expect(gets).toBe(0);
  // Replaced without any checksum: MinIO keeps none, so verify reads it again, and fails too.
  await s3.client.send(
    new PutObjectCommand({ Bucket: bucket, Key: name, Body: Buffer.from('proven by the serveR') }),
  );
  await expect(verify(j)).rejects.toThrow(
    /tampered\/small\.txt: CRC32C [0-9a-f]{8} differs from the copied/,
  );
  expect(gets).toBe(1);
});

it('MinIO refuses an upload whose claimed CRC32C differs from its bytes (the stored one is the server’s)', async () => {
  await expect(
    s3.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'claims/wrong',
        Body: Buffer.from('some bytes'),
        ChecksumCRC32C: 'AAAAAA==',
      }),
    ),
  ).rejects.toMatchObject({ name: 'XAmzContentChecksumMismatch' });
});
