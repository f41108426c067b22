import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseStorageUri } from '../../storage';
import type { GcsDriver } from '../../storage/drivers/gcs';
import type { S3Driver } from '../../storage/drivers/s3';
import { repoRoot } from './dim-process';

/**
 * The cloud servers `dev/services start s3 gcs` runs (MinIO, fake-gcs-server) as tests and
 * benchmarks reach them: endpoints, credentials, buckets, and rclone remotes for both.
 */

export const S3_ENDPOINT = 'http://127.0.0.1:9000';
export const GCS_ENDPOINT = 'http://127.0.0.1:4443';
export const MINIO = {
  accessKeyId: process.env.MINIO_ROOT_USER ?? 'dimminio',
  secretAccessKey: process.env.MINIO_ROOT_PASSWORD ?? 'dimminio-secret',
};
/** The storage configuration slice for both servers (config.storage without file roots). */
export const cloudStorageConfig = {
  s3: { endpoint: S3_ENDPOINT, region: 'us-east-1' },
  gcs: { endpoint: GCS_ENDPOINT, projectId: undefined },
};

/** rclone's remote names for the two servers. */
export const RCLONE_S3 = 'dims3';
export const RCLONE_GS = 'dimgs';

/** The absolute path of rclone (Debian's 1.60), installed with apt-get once if missing. */
export function rclonePath(): string {
  return execFileSync(path.join(repoRoot, 'dev', 'tools'), ['path', 'rclone'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/**
 * A clean environment for rclone with remotes `dims3:` (MinIO) and `dimgs:` (fake-gcs-server)
 * and no config file. Clean, because variables such as AWS_CA_BUNDLE make rclone's S3 backend
 * refuse to start ("unable to load custom CA bundle"). fake-gcs-server speaks the JSON API
 * over plain HTTP without authentication: rclone 1.60's `endpoint` + `anonymous` reach it;
 * `project_number` is only needed to list or make buckets.
 */
export function rcloneEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
    RCLONE_CONFIG: '/dev/null',
    RCLONE_CONFIG_DIMS3_TYPE: 's3',
    RCLONE_CONFIG_DIMS3_PROVIDER: 'Minio',
    RCLONE_CONFIG_DIMS3_ENDPOINT: S3_ENDPOINT,
    RCLONE_CONFIG_DIMS3_REGION: 'us-east-1',
    RCLONE_CONFIG_DIMS3_ACCESS_KEY_ID: MINIO.accessKeyId,
    RCLONE_CONFIG_DIMS3_SECRET_ACCESS_KEY: MINIO.secretAccessKey,
    RCLONE_CONFIG_DIMGS_TYPE: 'google cloud storage',
    RCLONE_CONFIG_DIMGS_ENDPOINT: `${GCS_ENDPOINT}/storage/v1/`,
    RCLONE_CONFIG_DIMGS_ANONYMOUS: 'true',
    RCLONE_CONFIG_DIMGS_PROJECT_NUMBER: 'dim-test',
  };
}

/** A dim storage URI as an rclone path on the remotes of rcloneEnv(). */
export function rcloneRemote(uri: string): string {
  const loc = parseStorageUri(uri);
  if (loc.scheme === 'file') return loc.path;
  const remote = loc.scheme === 's3' ? RCLONE_S3 : RCLONE_GS;
  return `${remote}:${loc.bucket}${loc.prefix ? `/${loc.prefix}` : ''}`;
}

/** A bucket of this name on MinIO and on fake-gcs-server. */
export async function createBuckets(s3: S3Driver, name: string): Promise<void> {
  await s3.client.send(new CreateBucketCommand({ Bucket: name }));
  // fake-gcs-server needs no project; the SDK's createBucket insists on one.
  const made = await fetch(`${GCS_ENDPOINT}/storage/v1/b?project=dim-test`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (made.status !== 200) throw new Error(`fake-gcs-server: bucket ${name}: ${made.status}`);
}

/** Deletes every object under `prefix` ('' = the whole bucket) on MinIO, 1,000 per request. */
export async function emptyS3(s3: S3Driver, bucket: string, prefix = ''): Promise<void> {
  let token: string | undefined;
  do {
    const page = await s3.client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    const objects = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (objects.length)
      await s3.client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }),
      );
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Deletes every object under `prefix` on fake-gcs-server, `parallel` at a time. */
export async function emptyGcs(
  gcs: GcsDriver,
  bucket: string,
  prefix = '',
  parallel = 32,
): Promise<void> {
  const b = gcs.storage.bucket(bucket);
  const [files] = await b.getFiles({ prefix });
  let next = 0;
  const lane = async () => {
    while (next < files.length) await files[next++]!.delete({ ignoreNotFound: true });
  };
  await Promise.all(Array.from({ length: Math.min(parallel, files.length) }, lane));
}

/** Empties and removes the buckets createBuckets() made (best effort). */
export async function removeBuckets(s3: S3Driver, gcs: GcsDriver, name: string): Promise<void> {
  await emptyS3(s3, name).catch(() => undefined);
  await s3.client.send(new DeleteBucketCommand({ Bucket: name })).catch(() => undefined);
  await emptyGcs(gcs, name).catch(() => undefined);
  await gcs.storage
    .bucket(name)
    .delete()
    .catch(() => undefined);
}

/** Empties a dim URI's prefix on either server (an s3:// or gs:// URI). */
export async function emptyUri(s3: S3Driver, gcs: GcsDriver, uri: string): Promise<void> {
  const loc = parseStorageUri(uri);
  if (loc.scheme === 'file') throw new Error(`emptyUri: ${uri} is not a bucket location`);
  const prefix = loc.prefix ? `${loc.prefix}/` : '';
  if (loc.scheme === 's3') await emptyS3(s3, loc.bucket, prefix);
  else await emptyGcs(gcs, loc.bucket, prefix);
}
