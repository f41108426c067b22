import { randomUUID } from 'node:crypto';
import { symlinkSync } from 'node:fs';
import path from 'node:path';
import {
  bundleWorkflows,
  createDataset,
  fileUri,
  startHarness,
  treeDigest,
  waitForStatus,
  writeTree,
  type Harness,
} from '../support/migration';

/**
 * Invariant 9 through the API and a real worker on the Temporal dev server: a migration's
 * destination belongs to it until it ends (no dataset may be registered there), and the
 * switch refuses a destination that another dataset took by any other way meanwhile.
 */
jest.setTimeout(120_000);

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    name: 'overlap',
    taskQueue: `overlap-test-${randomUUID()}`,
    bundle: await bundleWorkflows(),
  });
});

afterAll(async () => {
  await h?.close();
});

const src = (name: string) => path.join(h.root, 'src', name);
const dst = (name: string) => path.join(h.root, 'dst', name);

test('the switch refuses a destination another dataset took during the migration', async () => {
  writeTree(src('mover'), { 'a.txt': 'moving', 'b/c.txt': 'along' });
  const before = treeDigest(src('mover'));
  const id = await createDataset(h, 'mover', fileUri(src('mover')));
  const plan = await h.request('POST', '/plan-migration', {
    dataset_id: id,
    target_location: fileUri(dst('mover')),
    storage_class: 'standard',
    require_approval: true,
  });
  expect(plan.status).toBe(201);
  const job = plan.body as { job_id: string };
  await waitForStatus(h, job.job_id, 'awaiting_approval');

  // Through the API, the destination of a running migration cannot be registered.
  const refused = await h.request('POST', '/datasets', {
    name: 'squatter',
    path_uri: fileUri(path.join(dst('mover'), 'inner')),
  });
  expect(refused).toMatchObject({
    status: 409,
    body: { field: 'body.path_uri', job_id: job.job_id },
  });

  // A row written around the API (an older dim, a hand-edited database) takes it anyway.
  const t = Date.now();
  const squatter = await h.store.db
    .insertInto('datasets')
    .values({
      name: 'squatter',
      path_uri: fileUri(path.join(dst('mover'), 'inner')),
      location_key: `file:${dst('mover')}/inner/`,
      current_tier: 'hot',
      size_bytes: 0,
      object_count: 0,
      version: 1,
      tier_since: t,
      created_at: t,
      updated_at: t,
    })
    .returning('id')
    .executeTakeFirstOrThrow();

  expect((await h.request('POST', `/jobs/${job.job_id}/approve`)).status).toBe(202);
  const failed = await waitForStatus(h, job.job_id, 'failed');
  expect(failed.error).toMatch(/^dest_overlaps: /);
  expect(failed.error).toContain(`dataset ${squatter.id} "squatter"`);

  // Nothing switched: the dataset still points at its source, which is intact.
  const ds = await h.request('GET', `/datasets/${id}`);
  expect(ds.body).toMatchObject({ path_uri: fileUri(src('mover')), version: 1 });
  expect(treeDigest(src('mover'))).toEqual(before);
  const row = await h.store.db
    .selectFrom('datasets')
    .select('location_key')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  expect(row.location_key).toBe(`file:${src('mover')}/`);
});

test('a migration may not write into any dataset, its own or another, nor into a running migration', async () => {
  writeTree(src('home'), { 'h.txt': 'home' });
  writeTree(src('neighbour'), { 'n.txt': 'next door' });
  const home = await createDataset(h, 'home', fileUri(src('home')));
  const neighbour = await createDataset(h, 'neighbour', fileUri(src('neighbour')));
  const before = treeDigest(src('neighbour'));
  symlinkSync(src('neighbour'), path.join(h.root, 'alias-of-neighbour'));
  const jobsBefore = await h.store.db.selectFrom('migration_jobs').select('job_id').execute();

  const cases: [string, number | undefined][] = [
    [src('neighbour'), neighbour], // equal
    [path.join(src('neighbour'), 'inside'), neighbour], // inside
    [path.join(h.root, 'alias-of-neighbour', 'x'), neighbour], // inside, through a symlink
    [path.join(src('home'), 'sub'), home], // inside its own location
    [path.join(h.root, 'src'), undefined], // holds both (which one is named is the store's pick)
  ];
  for (const [where, other] of cases) {
    const r = await h.request('POST', '/plan-migration', {
      dataset_id: home,
      target_location: fileUri(where),
    });
    expect({ where, status: r.status, body: r.body }).toMatchObject({
      status: 409,
      body: {
        field: 'body.target_location',
        dataset: other === undefined ? expect.any(Object) : { id: other },
      },
    });
  }
  expect(await h.store.db.selectFrom('migration_jobs').select('job_id').execute()).toEqual(
    jobsBefore,
  );
  expect(treeDigest(src('neighbour'))).toEqual(before);

  // A destination inside another migration's destination, while that one runs.
  const first = await h.request('POST', '/plan-migration', {
    dataset_id: neighbour,
    target_location: fileUri(dst('shared-place')),
    require_approval: true,
  });
  expect(first.status).toBe(201);
  const second = await h.request('POST', '/plan-migration', {
    dataset_id: home,
    target_location: fileUri(path.join(dst('shared-place'), 'home')),
  });
  expect(second).toMatchObject({
    status: 409,
    body: { field: 'body.target_location', job_id: (first.body as { job_id: string }).job_id },
  });
  await h.request('POST', `/jobs/${(first.body as { job_id: string }).job_id}/cancel`);
});
