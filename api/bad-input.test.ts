import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defaultTiers } from '../placement';
import { checkDatasetLocation, checkLocation } from '../storage/location';
import { ensureDefaultTiers } from '../store/tiers';
import { startTestApi, type TestApi, type TestResponse } from '../test/support/api';

/**
 * Invariant 7 for datasets, policies and tiers: bad input gets a 4xx
 * application/problem+json naming the field and the reason; nothing is half-written; never
 * a 5xx. One table per endpoint, one row per class of mistake.
 */
type Case = [what: string, body: unknown, status: number, field: string, reason?: RegExp];

function expectProblem(res: TestResponse, status: number, field: string, reason?: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    status,
    field,
    type: expect.any(String),
    title: expect.any(String),
  });
  expect(res.body.detail).toEqual(expect.any(String));
  if (reason) expect(res.body.detail).toMatch(reason);
}

describe('bad input', () => {
  let api: TestApi;
  let small: TestApi;
  let existing: number;
  const counts = async () => {
    const count = async (t: 'datasets' | 'policies' | 'tiers' | 'audit_log') =>
      Number(
        (
          await api.store.db
            .selectFrom(t)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    return {
      datasets: await count('datasets'),
      policies: await count('policies'),
      tiers: await count('tiers'),
      audit: await count('audit_log'),
    };
  };

  beforeAll(async () => {
    api = await startTestApi();
    small = await startTestApi({ bodyLimit: '1kb' });
    await ensureDefaultTiers(api.store.db, defaultTiers(api.dataDir));
    const res = await api.request('POST', '/datasets', {
      name: 'existing',
      path_uri: 'file:///shared_storage/existing',
    });
    existing = res.body.id;
    await api.request('POST', '/policies', { name: 'gold' });
  });
  afterAll(async () => {
    await api.close();
    await small.close();
  });

  describe('POST /datasets', () => {
    const ok = { name: 'good', path_uri: 'file:///shared_storage/good', size_bytes: 1024 };
    const cases: Case[] = [
      ['a non-object body', [ok], 400, 'body'],
      ['a JSON string body', 'just text', 400, 'body'],
      ['a missing name', { path_uri: ok.path_uri }, 400, 'body.name', /required/],
      ['a missing path_uri', { name: 'x' }, 400, 'body.path_uri', /required/],
      ['a name of the wrong type', { ...ok, name: 42 }, 400, 'body.name'],
      ['an empty name', { ...ok, name: '' }, 400, 'body.name', /empty/],
      ['a name with a slash', { ...ok, name: 'a/b' }, 400, 'body.name'],
      ['a name of 300 characters', { ...ok, name: 'n'.repeat(300) }, 400, 'body.name', /200/],
      ['a size given as a string', { ...ok, size_bytes: '1024' }, 400, 'body.size_bytes', /number/],
      ['a negative size', { ...ok, size_bytes: -1 }, 400, 'body.size_bytes', /negative/],
      ['a fractional size', { ...ok, size_bytes: 1.5 }, 400, 'body.size_bytes', /whole/],
      ['an absurd size', { ...ok, size_bytes: 1e30 }, 400, 'body.size_bytes', /at most/],
      ['a negative object count', { ...ok, object_count: -3 }, 400, 'body.object_count'],
      ['an unknown tier', { ...ok, current_tier: 'lukewarm' }, 400, 'body.current_tier'],
      ['a latency SLO as text', { ...ok, latency_slo_ms: 'fast' }, 400, 'body.latency_slo_ms'],
      ['a zero latency SLO', { ...ok, latency_slo_ms: 0 }, 400, 'body.latency_slo_ms', /positive/],
      ['an absurd latency SLO', { ...ok, latency_slo_ms: 1e12 }, 400, 'body.latency_slo_ms'],
      ['an unknown field', { ...ok, colour: 'red' }, 400, 'body.colour', /unknown field/],
      ['an unknown policy', { ...ok, policy: 'platinum' }, 400, 'body.policy', /no policy named/],
      ['an ftp:// URI', { ...ok, path_uri: 'ftp://host/x' }, 400, 'body.path_uri', /scheme/],
      ['an http:// URI', { ...ok, path_uri: 'http://host/x' }, 400, 'body.path_uri', /scheme/],
      ['a relative path', { ...ok, path_uri: 'data/x' }, 400, 'body.path_uri'],
      ['a path_uri of the wrong type', { ...ok, path_uri: ['file:///x'] }, 400, 'body.path_uri'],
      [
        'a file:// path outside the roots',
        { ...ok, path_uri: 'file:///etc/x' },
        403,
        'body.path_uri',
        /outside the allowed file roots/,
      ],
      [
        'a file:// path escaping with ..',
        { ...ok, path_uri: 'file:///shared_storage/../etc' },
        403,
        'body.path_uri',
        /outside/,
      ],
      [
        'a file:// host name',
        { ...ok, path_uri: 'file://shared_storage/x' },
        400,
        'body.path_uri',
        /absolute path/,
      ],
      [
        'an s3:// URI with an invalid bucket',
        { ...ok, path_uri: 's3://Bad_Bucket/x' },
        400,
        'body.path_uri',
      ],
      ['a taken name', { ...ok, name: 'existing' }, 409, 'body.name', /exists already/],
    ];
    it.each(cases)('rejects %s', async (...[, body, status, field, reason]: Case) => {
      const before = await counts();
      const res = await api.request('POST', '/datasets', body);
      expectProblem(res, status, field, reason);
      expect(await counts()).toEqual(before);
    });

    it('rejects a file:// path that escapes the roots through a symlink', async () => {
      // <dataDir>/storage is a root; a link inside it pointing at / leads outside.
      const root = path.join(api.dataDir, 'storage');
      mkdirSync(root, { recursive: true });
      symlinkSync('/', path.join(root, 'escape'));
      const before = await counts();
      const res = await api.request('POST', '/datasets', {
        ...ok,
        path_uri: `file://${root}/escape/etc`,
      });
      expectProblem(res, 403, 'body.path_uri', /resolves to \/etc, which is outside/);
      expect(await counts()).toEqual(before);
    });

    it('stores a file:// path inside the roots lexically normalized', async () => {
      const res = await api.request('POST', '/datasets', {
        name: 'normalized',
        path_uri: 'file:///shared_storage/a/../normalized/',
      });
      expect(res.status).toBe(201);
      expect(res.body.path_uri).toBe('file:///shared_storage/normalized');
    });

    it('rejects malformed JSON', async () => {
      const res = await api.request('POST', '/datasets', '{"name": "x", "path_uri": ');
      expectProblem(res, 400, 'body', /not valid JSON/);
    });

    it('rejects a body that is not JSON with 415 (a web form cannot send JSON)', async () => {
      const before = await counts();
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data',
      ]) {
        const res = await api.request('POST', '/datasets', 'name=x', { 'content-type': type });
        expectProblem(res, 415, 'header.Content-Type', /must be JSON/);
      }
      expect(await counts()).toEqual(before);
    });

    it('rejects a missing body with 400', async () => {
      const res = await api.request('POST', '/datasets');
      expectProblem(res, 400, 'body', /JSON body is required/);
    });

    it('rejects a body over the limit with 413', async () => {
      const res = await small.request('POST', '/datasets', { ...ok, owner: 'o'.repeat(4000) });
      expectProblem(res, 413, 'body', /larger than the limit/);
    });
  });

  describe('/datasets/{id}', () => {
    it.each([
      ['GET', undefined],
      ['PATCH', { owner: 'x' }],
      ['DELETE', undefined],
    ])('%s of an unknown id is a 404 problem', async (method, body) => {
      const res = await api.request(method, '/datasets/999999', body);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.detail).toMatch(/dataset 999999 does not exist/);
    });

    it.each(['abc', '0', '-4', '1.5', '1e400'])('id %s is a 400 naming path.id', async (id) => {
      expectProblem(await api.request('GET', `/datasets/${id}`), 400, 'path.id');
    });

    const patches: Case[] = [
      ['an empty patch', {}, 400, 'body', /at least one field/],
      [
        'a location change',
        { path_uri: 'file:///shared_storage/y' },
        400,
        'body.path_uri',
        /migration/,
      ],
      ['a tier change', { current_tier: 'cold' }, 400, 'body.current_tier', /migration/],
      ['a negative size', { size_bytes: -10 }, 400, 'body.size_bytes'],
      ['an unknown field', { colour: 'red' }, 400, 'body.colour'],
      ['an unknown policy', { policy: 'platinum' }, 400, 'body.policy'],
      ['a size as text', { size_bytes: 'ten' }, 400, 'body.size_bytes'],
    ];
    it.each(patches)(
      'PATCH rejects %s and changes nothing',
      async (...[, body, status, field, reason]: Case) => {
        const before = (await api.request('GET', `/datasets/${existing}`)).body;
        expectProblem(
          await api.request('PATCH', `/datasets/${existing}`, body),
          status,
          field,
          reason,
        );
        expect((await api.request('GET', `/datasets/${existing}`)).body).toEqual(before);
      },
    );
  });

  describe('GET /datasets query', () => {
    it.each([
      ['limit=0', 'query.limit'],
      ['limit=abc', 'query.limit'],
      ['limit=100000', 'query.limit'],
      ['limit=1&limit=2', 'query.limit'],
      ['tier=lukewarm', 'query.tier'],
      ['cursor=-1', 'query.cursor'],
      ['colour=red', 'query.colour'],
    ])('%s → 400 naming %s', async (q, field) => {
      const res = await api.request('GET', `/datasets?${q}`);
      expect(res.status).toBeLessThan(500);
      if (res.status === 200) return; // unknown query parameters may be ignored
      expectProblem(res, 400, field);
    });
  });

  describe('POST /policies', () => {
    const cases: Case[] = [
      ['a missing name', { latency_slo_ms: 5 }, 400, 'body.name', /required/],
      ['a name with spaces', { name: 'my policy' }, 400, 'body.name'],
      ['an unknown pinned tier', { name: 'p', pinned_tier: 'lukewarm' }, 400, 'body.pinned_tier'],
      ['a negative SLO', { name: 'p', latency_slo_ms: -5 }, 400, 'body.latency_slo_ms'],
      ['an SLO as text', { name: 'p', latency_slo_ms: '5ms' }, 400, 'body.latency_slo_ms'],
      [
        'a negative cost target',
        { name: 'p', cost_target_usd_month: -1 },
        400,
        'body.cost_target_usd_month',
      ],
      ['a negative residency', { name: 'p', min_residency_s: -60 }, 400, 'body.min_residency_s'],
      ['an absurd residency', { name: 'p', min_residency_s: 1e12 }, 400, 'body.min_residency_s'],
      ['a fractional threshold', { name: 'p', hot_max_age_s: 1.5 }, 400, 'body.hot_max_age_s'],
      [
        'warm below hot',
        { name: 'p', hot_max_age_s: 600, warm_max_age_s: 60 },
        400,
        'body.warm_max_age_s',
        /at least hot_max_age_s/,
      ],
      [
        'a boolean as text',
        { name: 'p', require_approval: 'yes' },
        400,
        'body.require_approval',
        /true or false/,
      ],
      ['a boolean as 1', { name: 'p', auto_apply: 1 }, 400, 'body.auto_apply'],
      ['an unknown field', { name: 'p', priority: 'high' }, 400, 'body.priority', /unknown field/],
      ['an array body', [{ name: 'p' }], 400, 'body'],
    ];
    it.each(cases)('rejects %s', async (...[, body, status, field, reason]: Case) => {
      const before = await counts();
      expectProblem(await api.request('POST', '/policies', body), status, field, reason);
      expect(await counts()).toEqual(before);
    });

    it('rejects malformed JSON', async () => {
      expectProblem(await api.request('POST', '/policies', '{name: gold}'), 400, 'body');
    });

    it('answers 404 for an unknown policy and 400 for a bad name in the path', async () => {
      const res = await api.request('GET', '/policies/platinum');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expectProblem(await api.request('GET', '/policies/%20bad'), 400, 'path.name');
    });
  });

  describe('PUT /tiers', () => {
    const tiers = () => {
      const t = defaultTiers('/shared_storage/dim-bad-input'); // inside a root of startTestApi;
      return [{ ...t.hot }, { ...t.warm }, { ...t.cold }] as Array<Record<string, unknown>>;
    };
    const withTier = (i: number, patch: Record<string, unknown>) => {
      const items = tiers();
      items[i] = { ...items[i], ...patch };
      return { items };
    };
    const without = (i: number, key: string) => {
      const items = tiers();
      delete items[i]![key];
      return { items };
    };
    const cases: Case[] = [
      ['a missing items', {}, 400, 'body.items', /required/],
      ['items that are not an array', { items: { hot: {} } }, 400, 'body.items'],
      ['two tiers only', { items: tiers().slice(0, 2) }, 400, 'body.items', /exactly three/],
      [
        'a tier twice',
        { items: [tiers()[0], tiers()[0], tiers()[2]] },
        400,
        'body.items[1].name',
        /twice/,
      ],
      ['an unknown tier name', withTier(1, { name: 'tepid' }), 400, 'body.items[1].name'],
      [
        'a negative storage price',
        withTier(0, { price_gb_month: -0.1 }),
        400,
        'body.items[0].price_gb_month',
        /negative/,
      ],
      [
        'a negative retrieval price',
        withTier(1, { price_retrieval_gb: -1 }),
        400,
        'body.items[1].price_retrieval_gb',
      ],
      [
        'an absurd price',
        withTier(2, { price_per_1k_requests: 1e12 }),
        400,
        'body.items[2].price_per_1k_requests',
      ],
      ['a price as text', withTier(2, { egress_gb: 'free' }), 400, 'body.items[2].egress_gb'],
      [
        'fractional minimum days',
        withTier(2, { min_storage_days: 1.5 }),
        400,
        'body.items[2].min_storage_days',
      ],
      [
        'a negative latency',
        withTier(0, { read_latency_ms: -1 }),
        400,
        'body.items[0].read_latency_ms',
      ],
      [
        'a missing latency',
        without(0, 'read_latency_ms'),
        400,
        'body.items[0].read_latency_ms',
        /required/,
      ],
      [
        'an unknown field',
        withTier(2, { colour: 'blue' }),
        400,
        'body.items[2].colour',
        /unknown field/,
      ],
      [
        'an unsupported scheme',
        withTier(1, { location_template: 'ftp://host/{name}' }),
        400,
        'body.items[1].location_template',
        /scheme/,
      ],
      [
        'a file:// template outside the roots',
        withTier(0, { location_template: 'file:///etc/dim/{name}' }),
        403,
        'body.items[0].location_template',
        /outside the allowed file roots/,
      ],
      [
        'a template without a placeholder',
        withTier(1, { location_template: 's3://bucket/all' }),
        400,
        'body.items[1].location_template',
        /\{name\} or \{id\}/,
      ],
      [
        'an unknown placeholder',
        withTier(1, { location_template: 's3://bucket/{owner}/{name}' }),
        400,
        'body.items[1].location_template',
        /\{owner\}/,
      ],
      [
        'a storage class the scheme lacks',
        withTier(2, { location_template: 's3://cold/{name}', storage_class: 'NEARLINE' }),
        400,
        'body.items[2].storage_class',
        /s3 storage class/,
      ],
      [
        'a storage class with spaces',
        withTier(0, { storage_class: 'very fast' }),
        400,
        'body.items[0].storage_class',
      ],
    ];
    it.each(cases)(
      'rejects %s and keeps the table as it was',
      async (...[, body, status, field, reason]: Case) => {
        const before = (await api.request('GET', '/tiers')).body;
        const auditBefore = (await counts()).audit;
        expectProblem(await api.request('PUT', '/tiers', body), status, field, reason);
        expect((await api.request('GET', '/tiers')).body).toEqual(before);
        expect((await counts()).audit).toBe(auditBefore);
      },
    );

    it('rejects malformed JSON', async () => {
      expectProblem(await api.request('PUT', '/tiers', '{"items": [}'), 400, 'body');
    });

    it('rejects a body over the limit with 413', async () => {
      const items = tiers();
      items[0]!.location_template = `file:///tmp/${'x'.repeat(3000)}/{name}`;
      expectProblem(await small.request('PUT', '/tiers', { items }), 413, 'body');
    });
  });

  describe('requests built to break the server', () => {
    it('an over-long URL (100 KB) is a 4xx problem, and the server keeps serving', async () => {
      for (const p of [
        `/datasets/${'1'.repeat(100_000)}`,
        `/datasets?name=${'n'.repeat(100_000)}`,
      ]) {
        const res = await api.request('GET', p);
        expect(res.status).toBe(431);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      }
      // Long, but within Node's header limit: reaches the route and is refused there.
      expectProblem(await api.request('GET', `/datasets/${'1'.repeat(10_000)}`), 400, 'path.id');
      expect((await api.request('GET', '/datasets')).status).toBe(200);
    });

    it.each([
      ['arrays', '['.repeat(10_000) + ']'.repeat(10_000)],
      ['objects', '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)],
      ['an unterminated nesting', '['.repeat(1_000_000)],
    ])('a body of %s nested 10,000+ deep is a 400 naming body', async (_what, body) => {
      const before = await counts();
      for (const headers of [{}, { 'Idempotency-Key': `deep-${_what}` }] as Array<
        Record<string, string>
      >) {
        for (const [method, p] of [
          ['POST', '/datasets'],
          ['PUT', '/tiers'],
          ['POST', '/access-events'],
        ]) {
          expectProblem(await api.request(method!, p!, body, headers), 400, 'body', /levels deep/);
        }
      }
      expect(await counts()).toEqual(before);
    });

    it('nesting inside strings does not count', async () => {
      const res = await api.request('POST', '/datasets', {
        name: 'brackets',
        path_uri: 'file:///shared_storage/brackets',
        owner: '['.repeat(70) + '\\"{'.repeat(30),
      });
      expect(res.status).toBe(201);
    });

    it('a body with 100,000 fields is a 400 naming one of them', async () => {
      const body: Record<string, unknown> = { name: 'wide', path_uri: 'file:///shared_storage/w' };
      for (let i = 0; i < 100_000; i++) body[`f${i}`] = i;
      const before = await counts();
      for (const [method, p] of [
        ['POST', '/datasets'],
        ['POST', '/policies'],
        ['POST', '/access-events'],
      ]) {
        const res = await api.request(method!, p!, body, { 'Idempotency-Key': `wide-${p}` });
        expect(res.status).toBe(400);
        expect(res.body.field).toMatch(/^body\.\w+$/);
      }
      expect(await counts()).toEqual(before);
    });

    it('twenty concurrent duplicates with one Idempotency-Key: one dataset, no 5xx', async () => {
      const body = { name: 'twins', path_uri: 'file:///shared_storage/twins' };
      const all = await Promise.all(
        Array.from({ length: 20 }, () =>
          api.request('POST', '/datasets', body, { 'Idempotency-Key': 'twins-1' }),
        ),
      );
      const statuses = all.map((r) => r.status);
      expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
      expect(
        all.filter((r) => r.status === 201 && !r.headers.get('idempotent-replayed')),
      ).toHaveLength(1);
      const rows = await api.store.db
        .selectFrom('datasets')
        .selectAll()
        .where('name', '=', 'twins')
        .execute();
      expect(rows).toHaveLength(1);
    });

    it('twenty concurrent duplicates without a key: one 201, the rest 409, no 5xx', async () => {
      const body = { name: 'racers', path_uri: 'file:///shared_storage/racers' };
      const all = await Promise.all(
        Array.from({ length: 20 }, () => api.request('POST', '/datasets', body)),
      );
      expect(all.map((r) => r.status).sort()).toEqual([201, ...Array<number>(19).fill(409)]);
      for (const r of all.filter((x) => x.status === 409))
        expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    });
  });

  describe('bucket allowlist (DIM_BUCKETS=s3://dim-warm,gs://dim-cold)', () => {
    let locked: TestApi;
    const storage = {
      fileRoots: ['/shared_storage'],
      buckets: { s3: ['dim-warm'], gs: ['dim-cold'] },
      s3: { endpoint: undefined, region: 'us-east-1' },
      gcs: { endpoint: undefined, projectId: undefined },
    };
    beforeAll(async () => {
      // A real client that is never reached: the location is refused before any call.
      const client = new Client({
        connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 }),
      });
      locked = await startTestApi({
        checkLocation: (uri, field) => checkLocation(uri, field, storage),
        datasetLocation: (uri, field) =>
          checkDatasetLocation(uri, field, { ...storage, allowWholeRoot: false }),
        temporal: { client, namespace: 'default', taskQueue: 'dim-bad-input' },
      });
      await ensureDefaultTiers(locked.store.db, defaultTiers('/shared_storage/dim-buckets'));
    });
    afterAll(() => locked.close());
    const jobs = async () =>
      (await locked.store.db.selectFrom('migration_jobs').select('job_id').execute()).length;

    it.each([
      ['s3://other-bucket/data', 's3://other-bucket'],
      ['gs://dim-warm/data', 'gs://dim-warm'],
    ])('refuses a dataset in %s with 400 naming body.path_uri', async (uri, bucket) => {
      const res = await locked.request('POST', '/datasets', { name: 'outside', path_uri: uri });
      expectProblem(
        res,
        400,
        'body.path_uri',
        new RegExp(`bucket ${bucket} is not one of the configured buckets`),
      );
      expect(res.body.type).toBe('https://dim.dev/problems/outside_buckets');
      const rows = await locked.store.db.selectFrom('datasets').select('id').execute();
      expect(rows).toEqual([]);
    });

    it('accepts a dataset in a listed bucket', async () => {
      const res = await locked.request('POST', '/datasets', {
        name: 'inside',
        path_uri: 's3://dim-warm/inside',
      });
      expect(res.status).toBe(201);
    });

    it('refuses a tier template in another bucket, keeping the table', async () => {
      const before = (await locked.request('GET', '/tiers')).body;
      const items = [...before.items] as Array<Record<string, unknown>>;
      items[2] = {
        ...items[2],
        location_template: 'gs://not-ours/{name}',
        storage_class: 'COLDLINE',
      };
      expectProblem(
        await locked.request('PUT', '/tiers', { items }),
        400,
        'body.items[2].location_template',
        /not one of the configured buckets/,
      );
      expect((await locked.request('GET', '/tiers')).body).toEqual(before);
    });

    it('refuses a migration to another bucket before anything is planned', async () => {
      const ds = await locked.request('POST', '/datasets', {
        name: 'mover',
        path_uri: 'file:///shared_storage/mover',
      });
      const res = await locked.request('POST', '/plan-migration', {
        dataset_id: ds.body.id,
        target_location: 's3://not-ours/mover',
        storage_class: 'STANDARD',
      });
      expectProblem(res, 400, 'body.target_location', /bucket s3:\/\/not-ours is not one/);
      expect(await jobs()).toBe(0);
    });
  });

  it('answers 404 problem+json for unknown routes and 405 for unknown methods, never 5xx', async () => {
    const res = await api.request('POST', '/tiers', { items: [] });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, PUT');
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const unknown = await api.request('POST', '/tierz', { items: [] });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
