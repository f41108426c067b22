import path from 'node:path';
import { tempDir } from '../test/support/dim-process';
import { lexicalLocationKey } from '../storage/location-key';
import type { OpenedDb } from './db';
import { openTestStore } from '../test/support/store';
import { insertJobIfFree, registerDataset } from './overlap';
import { datasetRow } from '../test/support/rows';

/**
 * Invariant 9 in the store, on a real SQLite file: registration and planning check and
 * write in one transaction that holds the write lock, also across processes (two
 * connections here), so concurrent writers never both get through.
 */
jest.setTimeout(30_000);

const dataset = datasetRow;

const job = (jobKey: string, datasetId: number, source: string, dest: string) => ({
  job_id: `job-${jobKey}`,
  job_key: jobKey,
  dataset_id: datasetId,
  source_uri: source,
  dest_uri: dest,
  dest_key: lexicalLocationKey(dest),
  dest_storage_class: 'standard',
  status: 'queued' as const,
  workflow_id: `migration-${jobKey}`,
  requested_by: 'test',
  require_approval: 0,
  retire_source: 0,
  bytes_done: 0,
  bytes_total: 0,
  objects_done: 0,
  objects_total: 0,
  target_tier: null,
  error: null,
  run_id: null,
  recommendation_id: null,
  submitted_at: 0,
  updated_at: 0,
});

describe('store overlap checks', () => {
  let file: string;
  let a: OpenedDb;
  let b: OpenedDb;
  beforeEach(async () => {
    file = path.join(tempDir('overlap'), 'dim.db');
    a = await openTestStore(file);
    b = await openTestStore(file); // a second connection: another process
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  // Concurrent writers share one connection here: two better-sqlite3 connections in one
  // thread would wait for each other's lock synchronously (separate processes do not).
  it('lets one of twenty concurrent nested registrations through', async () => {
    const uris = Array.from(
      { length: 20 },
      (_, i) => `s3://bkt/${Array.from({ length: (i % 10) + 1 }, (_, j) => `p${j}`).join('/')}`,
    );
    const outs = await Promise.all(
      uris.map((u, i) => registerDataset(a.db, dataset(`ds-${i}`, u))),
    );
    expect(outs.filter((o) => o.kind === 'created')).toHaveLength(1);
    expect(outs.filter((o) => o.kind === 'overlaps_dataset')).toHaveLength(19);
    const rows = await b.db.selectFrom('datasets').select('id').execute();
    expect(rows).toHaveLength(1);
  });

  it('plans a job only to a destination outside every dataset and running migration', async () => {
    const own = await registerDataset(a.db, dataset('own', 'file:///srv/own'));
    const other = await registerDataset(a.db, dataset('other', 'file:///srv/other'));
    if (own.kind !== 'created' || other.kind !== 'created') throw new Error('setup failed');
    const id = own.dataset.id;

    const cases: [string, string, string][] = [
      ['inside-own', 'file:///srv/own/copy', 'own'],
      ['into-other', 'file:///srv/other', 'other'],
      ['inside-other', 'file:///srv/other/x', 'other'],
      ['around-both', 'file:///srv', 'own'],
    ];
    for (const [key, dest, name] of cases) {
      const out = await insertJobIfFree(a.db, job(key, id, 'file:///srv/own', dest));
      expect(out).toMatchObject({ kind: 'overlaps_dataset', other: { name } });
    }

    const planned = await insertJobIfFree(
      a.db,
      job('k1', id, 'file:///srv/own', 'file:///cold/own'),
    );
    expect(planned).toMatchObject({
      kind: 'created',
      job: { source_key: 'file:/srv/own/', dest_key: 'file:/cold/own/' },
    });
    // The same job_key finds the job instead of planning a second one (invariant 4).
    expect(
      await insertJobIfFree(a.db, job('k1', id, 'file:///srv/own', 'file:///cold/own')),
    ).toMatchObject({ kind: 'exists', job: { job_id: 'job-k1' } });
    // Another migration may not write into (or around) that job's destination.
    const clash = await insertJobIfFree(
      b.db,
      job('k2', other.dataset.id, 'file:///srv/other', 'file:///cold/own/nested'),
    );
    expect(clash).toMatchObject({
      kind: 'overlaps_migration',
      job: { job_id: 'job-k1', end: 'dest', relation: 'inside' },
    });
    // Nor may a dataset be registered there meanwhile.
    expect(await registerDataset(b.db, dataset('late', 'file:///cold/own/x'))).toMatchObject({
      kind: 'overlaps_migration',
      job: { job_id: 'job-k1' },
    });
    // One migration of a dataset at a time, decided in the same transaction: twenty plans
    // of one dataset to twenty places at once give one job.
    const racers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        insertJobIfFree(
          a.db,
          job(`r${i}`, other.dataset.id, 'file:///srv/other', `file:///warm/r${i}`),
        ),
      ),
    );
    expect(racers.filter((r) => r.kind === 'created')).toHaveLength(1);
    expect(racers.filter((r) => r.kind === 'dataset_busy')).toHaveLength(19);
  });
});
