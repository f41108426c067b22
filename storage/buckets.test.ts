import { StorageError } from '../errors';
import { GcsDriver } from './drivers/gcs';
import { S3Driver } from './drivers/s3';
import { checkStorage } from './check';
import { createStorage } from './index';
import { checkLocation } from './location';

/** Invariant 6 for object stores: DIM_BUCKETS, checked at the door and by the drivers. */
const storage = {
  fileRoots: ['/shared_storage'],
  buckets: { s3: ['dim-warm'], gs: ['dim-cold'] },
  s3: { endpoint: undefined, region: 'us-east-1' },
  gcs: { endpoint: undefined, projectId: undefined },
};

async function refusal(p: Promise<unknown>): Promise<StorageError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  return err as StorageError;
}

describe('bucket allowlist', () => {
  it('lets listed buckets through checkLocation, as given', async () => {
    await expect(checkLocation('s3://dim-warm/a/b', 'f', storage)).resolves.toBe(
      's3://dim-warm/a/b',
    );
    await expect(checkLocation('gs://dim-cold/x', 'f', storage)).resolves.toBe('gs://dim-cold/x');
  });

  it.each([
    ['s3://other/x', 's3://other'],
    ['gs://dim-warm/x', 'gs://dim-warm'], // listed for s3 only
    ['s3://dim-cold', 's3://dim-cold'],
    ['s3://dim-warm-evil/x', 's3://dim-warm-evil'],
  ])('refuses %s with 400 outside_buckets naming the field', async (uri, bucket) => {
    const err = await refusal(checkLocation(uri, 'body.path_uri', storage));
    expect(err).toMatchObject({ code: 'outside_buckets', status: 400, field: 'body.path_uri' });
    expect(err.message).toContain(`bucket ${bucket} is not one of the configured buckets`);
  });

  it('allows any bucket when no allowlist is configured', async () => {
    const open = { ...storage, buckets: undefined };
    await expect(checkLocation('s3://anything/x', 'f', open)).resolves.toBe('s3://anything/x');
  });

  it('the S3 and GCS drivers refuse other buckets themselves, before any request', async () => {
    const s3 = new S3Driver({ region: 'us-east-1', buckets: ['dim-warm'] });
    const gcs = new GcsDriver({ buckets: ['dim-cold'] });
    try {
      const calls: Array<Promise<unknown>> = [
        s3.list('s3://other/x')[Symbol.asyncIterator]().next(),
        s3.stat('s3://other/x', 'k'),
        s3.read('s3://other/x', 'k'),
        s3.delete('s3://other/x', 'k'),
        s3.copyWithin('s3://dim-warm/x', 'k', 's3://other/y', 'k'),
        gcs.list('gs://other/x')[Symbol.asyncIterator]().next(),
        gcs.stat('gs://other/x', 'k'),
        gcs.delete('gs://other/x', 'k'),
        gcs.copyWithin('gs://other/x', 'k', 'gs://dim-cold/y', 'k'),
      ];
      for (const call of calls) {
        expect(await refusal(call)).toMatchObject({ code: 'outside_buckets', retryable: false });
      }
    } finally {
      await s3.close();
      await gcs.close();
    }
  });

  it('dim storage check reports a bucket outside the list without touching the server', async () => {
    const drivers = createStorage(storage);
    try {
      const report = await checkStorage('s3://other/x', { storage: drivers, config: storage });
      expect(report.ok).toBe(false);
      expect(report.error).toMatchObject({ step: 'location', code: 'outside_buckets' });
      expect(report.error?.hint).toMatch(/DIM_BUCKETS/);
      expect(report.checks.connectivity.status).toBe('skipped');
    } finally {
      await drivers.close();
    }
  });
});
