import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { silentLogger } from '../runtime/log';
import { FileDriver } from '../storage/drivers/file';
import { insertDataset } from '../store/datasets';
import { openDatabase, type OpenedDb } from '../store/db';
import { loadManifest, putManifestRows } from '../store/jobs';
import { insertJobIfFree } from '../store/overlap';
import { tempDir } from '../test/support/dim-process';
import { datasetRow } from '../test/support/rows';
import { copyDataset } from './copy';
import { createDigest } from './hashing';
import type { MoverEnv } from './mover-env';
import { verifyDataset } from './verify';

/**
 * The manifest's hash algorithm, per object (migration 012), on a real SQLite file and the
 * real file driver: a file→file copy records BLAKE3 (or SHA-256 when configured so), and
 * verify checks each row with its own algorithm, SHA-256 for rows written before the column.
 */
jest.setTimeout(30_000);

const never = new AbortController().signal;
let store: OpenedDb;
let root: string;
let env: MoverEnv;
const JOB = 'job-hash';

beforeEach(async () => {
  const dir = tempDir('verify-hash');
  root = path.join(dir, 'root');
  mkdirSync(path.join(root, 'src', 'd'), { recursive: true });
  writeFileSync(path.join(root, 'src', 'a.txt'), 'alpha');
  writeFileSync(path.join(root, 'src', 'd', 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 5));
  store = await openDatabase(path.join(dir, 'dim.db'));
  const src = `file://${root}/src`;
  const ds = await insertDataset(store.db, datasetRow('ds', src, { size_bytes: 5 }));
  await insertJobIfFree(store.db, {
    dest_key: `file:${root}/dst/`,
    job_id: JOB,
    job_key: 'key-hash',
    dataset_id: ds.id,
    source_uri: src,
    dest_uri: `file://${root}/dst`,
    dest_storage_class: 'standard',
    target_tier: 'cold',
    status: 'copying',
    workflow_id: 'migration-key-hash',
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
  const file = new FileDriver({ roots: [root], fsync: false });
  env = { db: store.db, storage: { driverFor: () => file }, log: silentLogger };
});

afterEach(async () => {
  await store.close();
});

const copyAndVerify = async (tuning: MoverEnv['tuning']) => {
  const e = { ...env, tuning };
  const ds = await store.db.selectFrom('datasets').select('id').executeTakeFirstOrThrow();
  const input = {
    jobId: JOB,
    datasetId: ds.id,
    sourceUri: `file://${root}/src`,
    destUri: `file://${root}/dst`,
    storageClass: 'standard',
  };
  await copyDataset(e, input, { signal: never, attempt: 1, progress: () => undefined });
  const copied = await loadManifest(store.db, JOB);
  const verified = await verifyDataset(
    e,
    { jobId: JOB, destUri: input.destUri },
    { signal: never, progress: () => undefined },
  );
  return { copied, verified };
};

const blake3 = (data: Buffer | string) => {
  const d = createDigest('blake3');
  d.update(Buffer.from(data));
  return d.hex();
};

it('copies file→file with BLAKE3 and records it per object; verify re-reads with it', async () => {
  const { copied, verified } = await copyAndVerify({ resumableMinBytes: 1024 * 1024 });
  expect([...copied.values()].map((r) => [r.key, r.hash_algorithm, r.sha256])).toEqual([
    ['a.txt', 'blake3', blake3('alpha')],
    ['d/big.bin', 'blake3', blake3(Buffer.alloc(3 * 1024 * 1024, 5))],
  ]);
  expect(verified).toMatchObject({ objects: 2, reread: 2 });
});

it('uses SHA-256 when configured so (DIM_FILE_HASH=sha256)', async () => {
  const { copied } = await copyAndVerify({ fileHash: 'sha256' });
  expect([...copied.values()].map((r) => r.hash_algorithm)).toEqual(['sha256', 'sha256']);
});

it('verifies rows from before migration 012 (no algorithm) as SHA-256, and each row by its own', async () => {
  await copyAndVerify({});
  const rows = [...(await loadManifest(store.db, JOB)).values()];
  const sha = (await import('node:crypto')).createHash('sha256').update('alpha').digest('hex');
  // An old row: SHA-256, no algorithm recorded. Verify must accept it as SHA-256...
  await putManifestRows(store.db, JOB, [
    { ...rows[0]!, sha256: sha, hash_algorithm: null, state: 'copied' },
  ]);
  const ok = await verifyDataset(
    env,
    { jobId: JOB, destUri: `file://${root}/dst` },
    { signal: never, progress: () => undefined },
  );
  expect(ok.reread).toBe(1);
  // ...and refuse a SHA-256 value labelled BLAKE3.
  await putManifestRows(store.db, JOB, [
    { ...rows[0]!, sha256: sha, hash_algorithm: 'blake3', state: 'copied' },
  ]);
  await expect(
    verifyDataset(
      env,
      { jobId: JOB, destUri: `file://${root}/dst` },
      { signal: never, progress: () => undefined },
    ),
  ).rejects.toThrow(/BLAKE3 [0-9a-f]{64} differs from the copied/);
});
