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
