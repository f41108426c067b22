import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config';
import { createStorage, type Storage } from '../../storage';
import type { GcsDriver } from '../../storage/drivers/gcs';
import { S3Driver } from '../../storage/drivers/s3';
import { createBuckets, GCS_ENDPOINT, MINIO, removeBuckets, S3_ENDPOINT } from '../support/cloud';
import { runDriverContract } from '../support/storage-contract';

/**
 * The storage driver contract against the real backends dev/services starts: MinIO
 * (127.0.0.1:9000) and fake-gcs-server (127.0.0.1:4443); the file driver runs the same
 * suite in the unit project (storage/drivers/file.contract.test.ts). Buckets are created
 * here with the SDKs, with names unique to this run, and removed afterwards.
 */

const MiB = 1024 * 1024;
const PART = 5 * MiB;

const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const s3Bucket = `dim-contract-${run}`;
const gcsBucket = `dim-contract-${run}`;

const base = realpathSync(mkdtempSync(path.join(tmpdir(), 'dim-storage-contract-')));
const fileRoot = path.join(base, 'root');
mkdirSync(fileRoot, { recursive: true });

const config = loadConfig({
  DIM_DATA_DIR: base,
  DIM_FILE_ROOTS: fileRoot,
  S3_ENDPOINT,
  AWS_REGION: 'us-east-1',
  STORAGE_EMULATOR_HOST: GCS_ENDPOINT,
  GCS_PROJECT_ID: 'dim-test',
});

const storage: Storage = createStorage(config.storage, {
  s3: { credentials: MINIO, partSize: PART, queueSize: 4, listPageSize: 200 },
  gcs: { listPageSize: 200, resumableThreshold: 1 * MiB },
});

beforeAll(async () => {
  await createBuckets(storage.driverFor(`s3://${s3Bucket}`) as S3Driver, s3Bucket);
}, 30_000);

afterAll(async () => {
  await removeBuckets(
    storage.driverFor(`s3://${s3Bucket}`) as S3Driver,
    storage.driverFor(`gs://${gcsBucket}`) as GcsDriver,
    s3Bucket,
  );
  await storage.close();
  rmSync(base, { recursive: true, force: true });
}, 60_000);

runDriverContract(
  's3 (MinIO)',
  () => storage.driverFor('s3://any-bucket'),
  (label) => `s3://${s3Bucket}/${run}/${label}`,
  {
    capabilities: [
      'copyWithin',
      'writeResumable',
      'discardUnfinishedWrites',
      'checksums',
      'storedChecksum',
    ],
    // MinIO accepts only STANDARD and REDUCED_REDUNDANCY without configured tiers.
    storageClass: { write: 'reduced-redundancy', reported: 'REDUCED_REDUNDANCY' },
    partSize: PART,
    missingBucketUri: () => `s3://dim-missing-${run}/x`,
    badCredentials: () => ({
      driver: new S3Driver({
        endpoint: S3_ENDPOINT,
        region: 'us-east-1',
        credentials: { accessKeyId: MINIO.accessKeyId, secretAccessKey: 'not-the-secret' },
        maxAttempts: 1,
      }),
      rootUri: `s3://${s3Bucket}/${run}/bad-credentials`,
    }),
  },
);

runDriverContract(
  'gs (fake-gcs-server)',
  () => storage.driverFor('gs://any-bucket'),
  (label) => `gs://${gcsBucket}/${run}/${label}`,
  {
    capabilities: ['copyWithin', 'checksums', 'storedChecksum'],
    storageClass: { write: 'nearline', reported: 'NEARLINE' },
    partSize: PART,
    missingBucketUri: () => `gs://dim-missing-${run}/x`,
  },
);

describe('createStorage', () => {
  it('chooses drivers by scheme and refuses others', () => {
    expect(storage.driverFor(`file://${fileRoot}/x`).scheme).toBe('file');
    expect(storage.driverFor('s3://bucket/x').scheme).toBe('s3');
    expect(storage.driverFor('gs://bucket/x').scheme).toBe('gs');
    expect(() => storage.driverFor('http://example.com/x')).toThrow(/not supported/);
    expect(() => storage.driverFor('file://relative/x')).toThrow(/absolute path/);
  });

  it('uses the configured endpoints (not the clouds) and path-style addressing for S3', async () => {
    const s3 = storage.driverFor('s3://bucket') as S3Driver;
    const endpoint = await s3.client.config.endpoint?.();
    expect(endpoint?.hostname).toBe('127.0.0.1');
    expect(endpoint?.port).toBe(9000);
    expect(s3.client.config.forcePathStyle).toBe(true);
    const gcs = storage.driverFor('gs://bucket') as GcsDriver;
    expect(gcs.storage.apiEndpoint).toBe(GCS_ENDPOINT);
    expect(gcs.storage.baseUrl).toBe(`${GCS_ENDPOINT}/storage/v1`);
  });
});
