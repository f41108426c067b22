import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startTestApi, type TestApi } from '../../test/support/api';

describe('datasets API', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  const sample = { name: 'sample', path_uri: 'file:///shared_storage/sample', size_bytes: 1048576 };

  it("accepts the prototype's body verbatim and returns the dataset with its usage", async () => {
    const res = await api.request('POST', '/datasets', sample);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/datasets/${res.body.id}`);
    expect(res.body).toMatchObject({
      name: 'sample',
      path_uri: 'file:///shared_storage/sample',
      size_bytes: 1048576,
      current_tier: 'hot',
      version: 1,
      usage: {
        read_count: 0,
        write_count: 0,
        bytes_read: 0,
        bytes_written: 0,
        last_access_ts: null,
      },
    });
    const got = await api.request('GET', `/datasets/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
  });

  it('refuses a second dataset with the same name (409 naming the field)', async () => {
    const res = await api.request('POST', '/datasets', sample);
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 409, field: 'body.name' });
  });

  it('lists with filters and cursor pagination', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await api.request('POST', '/datasets', {
        name: `page-${i}`,
        path_uri: `file:///shared_storage/page-${i}`,
        owner: i % 2 ? 'odd' : 'even',
        current_tier: i < 2 ? 'cold' : 'warm',
      });
      expect(r.status).toBe(201);
    }
    const first = await api.request('GET', '/datasets?name=page-&limit=2');
    expect(first.body.items.map((d: { name: string }) => d.name)).toEqual(['page-0', 'page-1']);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api.request(
      'GET',
      `/datasets?name=page-&limit=2&cursor=${first.body.next_cursor}`,
    );
    expect(second.body.items.map((d: { name: string }) => d.name)).toEqual(['page-2', 'page-3']);
    const third = await api.request(
      'GET',
      `/datasets?name=page-&limit=2&cursor=${second.body.next_cursor}`,
    );
    expect(third.body.items.map((d: { name: string }) => d.name)).toEqual(['page-4']);
    expect(third.body.next_cursor).toBeNull();

    const odd = await api.request('GET', '/datasets?owner=odd');
    expect(odd.body.items.map((d: { name: string }) => d.name)).toEqual(['page-1', 'page-3']);
    const cold = await api.request('GET', '/datasets?tier=cold');
    expect(cold.body.items.map((d: { name: string }) => d.name)).toEqual(['page-0', 'page-1']);
  });

  it('patches owner, SLO and size, but never the location', async () => {
    const created = await api.request('POST', '/datasets', {
      name: 'patchme',
      path_uri: 'file:///shared_storage/p',
    });
    const id = created.body.id as number;
    const res = await api.request('PATCH', `/datasets/${id}`, {
      owner: 'team-a',
      latency_slo_ms: 50,
      size_bytes: 10,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ owner: 'team-a', latency_slo_ms: 50, size_bytes: 10 });

    const moved = await api.request('PATCH', `/datasets/${id}`, {
      path_uri: 'file:///shared_storage/elsewhere',
    });
    expect(moved.status).toBe(400);
    expect(moved.body).toMatchObject({ field: 'body.path_uri' });
    expect(moved.body.detail).toMatch(/plan-migration/);
    const unchanged = await api.request('GET', `/datasets/${id}`);
    expect(unchanged.body.path_uri).toBe('file:///shared_storage/p');

    const empty = await api.request('PATCH', `/datasets/${id}`, {});
    expect(empty.status).toBe(400);
  });

  it('deletes a dataset, then answers 404 for it', async () => {
    const created = await api.request('POST', '/datasets', {
      name: 'gone',
      path_uri: 'file:///shared_storage/g',
    });
    const del = await api.request('DELETE', `/datasets/${created.body.id}`);
    expect(del.status).toBe(204);
    const again = await api.request('GET', `/datasets/${created.body.id}`);
    expect(again.status).toBe(404);
    expect(again.body).toMatchObject({ status: 404, title: 'Not Found' });
  });

  it('replays a mutating call with the same Idempotency-Key instead of doing it twice', async () => {
    const body = { name: 'idem', path_uri: 'file:///shared_storage/idem' };
    const a = await api.request('POST', '/datasets', body, { 'Idempotency-Key': 'k-1' });
    const b = await api.request('POST', '/datasets', body, { 'Idempotency-Key': 'k-1' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(b.body).toEqual(a.body);
    const count = await api.store.db
      .selectFrom('datasets')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('name', '=', 'idem')
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);

    const other = await api.request(
      'POST',
      '/datasets',
      { ...body, name: 'idem2' },
      { 'Idempotency-Key': 'k-1' },
    );
    expect(other.status).toBe(422);
    expect(other.body.field).toBe('header.Idempotency-Key');
  });

  it('writes every mutating call to the audit log', async () => {
    const rows = await api.store.db.selectFrom('audit_log').selectAll().execute();
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.every((r) => r.actor === 'anonymous')).toBe(true);
    expect(rows.map((r) => r.action)).toContain('POST /datasets');
  });

  it('serves an OpenAPI 3.1 document generated from the same schemas', async () => {
    const res = await api.request('GET', '/openapi.json');
    expect(res.body.openapi).toBe('3.1.0');
    const post = res.body.paths['/datasets'].post;
    expect(post.requestBody.content['application/json'].schema.properties).toHaveProperty(
      'path_uri',
    );
    expect(post.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    expect(res.body.paths['/datasets/{id}'].get.parameters[0]).toMatchObject({
      name: 'id',
      in: 'path',
    });
  });
});

/**
 * Invariant 9: no dataset's location equals, contains or lies inside another's (after `..`
 * and symlinks; buckets by prefix on `/` boundaries), none is a whole root or bucket, and
 * the store enforces it under concurrency: one 201, the rest 409, never a 5xx.
 */
describe('datasets never overlap', () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await startTestApi();
  });
  afterEach(() => api.close());

  const post = (name: string, path_uri: string) =>
    api.request('POST', '/datasets', { name, path_uri });

  it('refuses a location that equals, lies inside or contains another, naming it', async () => {
    const a = await post('a', 'file:///shared_storage/team/a');
    expect(a.status).toBe(201);
    const cases: [string, string, string][] = [
      ['same', 'file:///shared_storage/team/a/', 'is the location of'],
      ['dotdot', 'file:///shared_storage/team/x/../a', 'is the location of'],
      ['inside', 'file:///shared_storage/team/a/sub', 'lies inside'],
      ['outer', 'file:///shared_storage/team', 'contains'],
    ];
    for (const [name, uri, words] of cases) {
      const r = await post(name, uri);
      expect(r.status).toBe(409);
      expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(r.body).toMatchObject({
        status: 409,
        field: 'body.path_uri',
        dataset: { id: a.body.id, name: 'a', path_uri: 'file:///shared_storage/team/a' },
      });
      expect(r.body.detail).toContain(`${words} dataset ${a.body.id} "a"`);
    }
    // A sibling whose name merely starts the same is not inside.
    expect((await post('ab', 'file:///shared_storage/team/ab')).status).toBe(201);
    const names = (await api.request('GET', '/datasets')).body.items.map(
      (d: { name: string }) => d.name,
    );
    expect(names).toEqual(['a', 'ab']);
  });

  it('sees through symlinks: a link to a dataset is that dataset', async () => {
    const root = path.join(api.dataDir, 'storage');
    mkdirSync(path.join(root, 'real', 'ds'), { recursive: true });
    symlinkSync(path.join(root, 'real'), path.join(root, 'alias'));
    const url = (p: string) => pathToFileURL(path.join(root, p)).href;
    expect((await post('real', url('real/ds'))).status).toBe(201);
    const viaLink = await post('via-link', url('alias/ds/inner'));
    expect(viaLink.status).toBe(409);
    expect(viaLink.body).toMatchObject({ field: 'body.path_uri', dataset: { name: 'real' } });
    const parent = await post('parent', url('alias'));
    expect(parent.status).toBe(409);
    expect(parent.body.relation).toBe('contains');
  });

  it('compares buckets by scheme, bucket and key prefix on / boundaries', async () => {
    expect((await post('data', 's3://bkt/data')).status).toBe(201);
    expect((await post('database', 's3://bkt/database')).status).toBe(201);
    expect((await post('gcs-data', 'gs://bkt/data')).status).toBe(201);
    expect((await post('other-bucket', 's3://bkt2/data')).status).toBe(201);
    const inside = await post('inside', 's3://bkt/data/2024/');
    expect(inside.status).toBe(409);
    expect(inside.body.dataset.name).toBe('data');
    const again = await post('again', 's3://bkt/data/');
    expect(again.status).toBe(409);
  });

  it('refuses a whole file root or a whole bucket (400 saying what to do)', async () => {
    for (const uri of [
      'file:///shared_storage',
      'file:///shared_storage/x/..',
      's3://bkt',
      'gs://bkt/',
    ]) {
      const r = await post('whole', uri);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ field: 'body.path_uri' });
      expect(r.body.detail).toMatch(/DIM_ALLOW_WHOLE_ROOT_DATASETS/);
    }
  });

  it('refuses a location a running migration writes to, or still retires', async () => {
    const a = await post('moving', 'file:///shared_storage/moving');
    const t = Date.now();
    await api.store.db
      .insertInto('migration_jobs')
      .values({
        job_id: 'job-running',
        job_key: 'k-running',
        dataset_id: a.body.id,
        source_uri: 'file:///shared_storage/moving',
        dest_uri: 'file:///shared_storage/cold/moving',
        dest_storage_class: 'standard',
        status: 'copying',
        workflow_id: 'migration-k-running',
        requested_by: 'test',
        require_approval: 0,
        retire_source: 0,
        bytes_done: 0,
        bytes_total: 0,
        objects_done: 0,
        objects_total: 0,
        submitted_at: t,
        updated_at: t,
        source_key: 'file:/shared_storage/moving/',
        dest_key: 'file:/shared_storage/cold/moving/',
      })
      .execute();
    const into = await post('squatter', 'file:///shared_storage/cold/moving/part');
    expect(into.status).toBe(409);
    expect(into.body).toMatchObject({ field: 'body.path_uri', job_id: 'job-running' });
    expect(into.body.detail).toMatch(/destination of migration job job-running/);
    expect((await post('around', 'file:///shared_storage/cold')).status).toBe(409);
    // After the switch the dataset lives at the destination, but the job still owns its
    // source until retire has run: nobody may register it meanwhile.
    await api.store.db
      .updateTable('datasets')
      .set({
        path_uri: 'file:///shared_storage/cold/moving',
        location_key: 'file:/shared_storage/cold/moving/',
      })
      .where('id', '=', a.body.id)
      .execute();
    await api.store.db
      .updateTable('migration_jobs')
      .set({ status: 'retiring' })
      .where('job_id', '=', 'job-running')
      .execute();
    const source = await post('old-source', 'file:///shared_storage/moving');
    expect(source.status).toBe(409);
    expect(source.body.detail).toMatch(/source of migration job job-running/);
    // Once the job has ended (the source kept or retired), the old location is free again.
    await api.store.db
      .updateTable('migration_jobs')
      .set({ status: 'completed' })
      .where('job_id', '=', 'job-running')
      .execute();
    expect((await post('old-source', 'file:///shared_storage/moving')).status).toBe(201);
  });

  const race = async (bodies: { name: string; path_uri: string }[]) => {
    const replies = await Promise.all(bodies.map((b) => api.request('POST', '/datasets', b)));
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([201, ...Array<number>(bodies.length - 1).fill(409)]);
    for (const r of replies.filter((x) => x.status === 409))
      expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const n = await api.store.db
      .selectFrom('datasets')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(1);
    return replies;
  };
  const twenty = <T>(f: (i: number) => T) => Array.from({ length: 20 }, (_, i) => f(i));

  it('twenty parallel registrations with one name: one 201, nineteen 409', async () => {
    const replies = await race(
      twenty((i) => ({ name: 'same', path_uri: `file:///shared_storage/n${i}` })),
    );
    for (const r of replies.filter((x) => x.status === 409)) expect(r.body.field).toBe('body.name');
  });

  it('twenty parallel registrations of one location: one 201, nineteen 409', async () => {
    const replies = await race(twenty((i) => ({ name: `loc-${i}`, path_uri: 's3://bkt/one/' })));
    for (const r of replies.filter((x) => x.status === 409))
      expect(r.body.field).toBe('body.path_uri');
  });

  it('twenty parallel registrations of nested locations: one 201, nineteen 409', async () => {
    const replies = await race(
      twenty((i) => ({
        name: `nest-${i}`,
        path_uri: `file:///shared_storage/deep/${Array.from({ length: i + 1 }, (_, j) => `d${j}`).join('/')}`,
      })),
    );
    for (const r of replies.filter((x) => x.status === 409))
      expect(r.body.field).toBe('body.path_uri');
  });
});
