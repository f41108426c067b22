import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { JobStatus } from '../../store/schema';
import { startTestApi, type TestApi } from '../../test/support/api';

/**
 * Bandwidth limits over HTTP: `max_bytes_per_s` of plans and policies, and
 * `POST /jobs/{id}/bandwidth` for a job that runs. The Temporal client points at a port
 * nobody listens on (no signal can be delivered here): the routes' validation, roles and
 * refusals are what this file checks; test/integration/bandwidth.test.ts changes the limit
 * of a migration that runs on the real dev server.
 */
describe('bandwidth limits of migrations', () => {
  let api: TestApi;
  const keys = [
    { name: 'viewer', role: 'viewer' as const, secret: 'viewer-secret-0123456789' },
    { name: 'ops', role: 'operator' as const, secret: 'ops-secret-0123456789' },
    { name: 'root', role: 'admin' as const, secret: 'root-secret-0123456789' },
  ];
  const as = (name: string) => ({
    authorization: `Bearer ${keys.find((k) => k.name === name)!.secret}`,
  });

  beforeAll(async () => {
    const client = new Client({
      connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 300 }),
    });
    api = await startTestApi({
      apiKeys: keys,
      temporal: { client, namespace: 'default', taskQueue: 'dim-bandwidth-route' },
    });
  });
  afterAll(() => api.close());

  async function insertJob(status: JobStatus, maxBytesPerS: number | null = null) {
    const ds = await api.request(
      'POST',
      '/datasets',
      { name: `bw-${randomUUID()}`, path_uri: `file:///shared_storage/bw-${randomUUID()}` },
      as('root'),
    );
    expect(ds.status).toBe(201);
    const jobId = randomUUID();
    await api.store.db
      .insertInto('migration_jobs')
      .values({
        job_id: jobId,
        job_key: `bw-${jobId}`,
        dataset_id: ds.body.id as number,
        source_uri: ds.body.path_uri as string,
        dest_uri: `file:///shared_storage/bw-dest-${jobId}`,
        dest_storage_class: 'standard',
        target_tier: null,
        status,
        error: null,
        bytes_done: 0,
        bytes_total: 0,
        objects_done: 0,
        objects_total: 0,
        workflow_id: `migration-bw-${jobId}`,
        run_id: null,
        recommendation_id: null,
        requested_by: 'ops',
        require_approval: 0,
        retire_source: 0,
        submitted_at: Date.now(),
        updated_at: Date.now(),
        max_bytes_per_s: maxBytesPerS,
      })
      .execute();
    return jobId;
  }

  const limitOf = async (jobId: string) =>
    (
      await api.store.db
        .selectFrom('migration_jobs')
        .select('max_bytes_per_s')
        .where('job_id', '=', jobId)
        .executeTakeFirstOrThrow()
    ).max_bytes_per_s;

  it.each([
    [{}, /max_bytes_per_s/],
    [{ max_bytes_per_s: '10MiB' }, /bytes per second/],
    [{ max_bytes_per_s: 0 }, /positive/],
    [{ max_bytes_per_s: -5 }, /positive/],
    [{ max_bytes_per_s: 1.5 }, /whole number/],
  ])('refuses the body %j with a 400 naming body.max_bytes_per_s', async (body, reason) => {
    const jobId = await insertJob('copying');
    const res = await api.request('POST', `/jobs/${jobId}/bandwidth`, body, as('ops'));
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.field).toBe('body.max_bytes_per_s');
    expect(res.body.detail).toMatch(reason);
    expect(await limitOf(jobId)).toBeNull();
  });

  it('refuses unknown fields, no body, and a job id that is no UUID', async () => {
    const jobId = await insertJob('copying');
    const extra = await api.request(
      'POST',
      `/jobs/${jobId}/bandwidth`,
      { max_bytes_per_s: 1000, burst: 5 },
      as('ops'),
    );
    expect(extra.status).toBe(400);
    expect(extra.body.detail).toMatch(/burst/);
    const none = await api.request('POST', `/jobs/${jobId}/bandwidth`, undefined, as('ops'));
    expect(none.status).toBe(400);
    expect(none.body.field).toBe('body');
    const badId = await api.request(
      'POST',
      '/jobs/not-a-job/bandwidth',
      { max_bytes_per_s: 1 },
      as('ops'),
    );
    expect(badId.status).toBe(400);
    expect(badId.body.field).toBe('path.job_id');
  });

  it('needs the operator role; a job that does not exist is a 404', async () => {
    const jobId = await insertJob('copying');
    const viewer = await api.request(
      'POST',
      `/jobs/${jobId}/bandwidth`,
      { max_bytes_per_s: 1000 },
      as('viewer'),
    );
    expect(viewer.status).toBe(403);
    const missing = await api.request(
      'POST',
      `/jobs/${randomUUID()}/bandwidth`,
      { max_bytes_per_s: 1000 },
      as('ops'),
    );
    expect(missing.status).toBe(404);
    expect(await limitOf(jobId)).toBeNull();
  });

  it.each(['completed', 'failed', 'cancelled', 'enqueue_failed'] as const)(
    'refuses a job that ended (%s) with a 409 and changes nothing',
    async (status) => {
      const jobId = await insertJob(status, 5000);
      const res = await api.request(
        'POST',
        `/jobs/${jobId}/bandwidth`,
        { max_bytes_per_s: 1000 },
        as('ops'),
      );
      expect(res.status).toBe(409);
      expect(res.body.detail).toMatch(new RegExp(`has ended \\(${status}\\)`));
      expect(await limitOf(jobId)).toBe(5000);
    },
  );

  it('a running job whose workflow cannot be reached: 503, and the limit stays as it was', async () => {
    const jobId = await insertJob('copying', 5000);
    const res = await api.request(
      'POST',
      `/jobs/${jobId}/bandwidth`,
      { max_bytes_per_s: null },
      as('ops'),
    );
    expect(res.status).toBe(503);
    expect(await limitOf(jobId)).toBe(5000);
  }, 20_000);

  it('policies keep a default limit; bad values name the field', async () => {
    const ok = await api.request(
      'POST',
      '/policies',
      { name: 'slow-lane', max_bytes_per_s: 1048576 },
      as('root'),
    );
    expect(ok.status).toBe(201);
    expect(ok.body.max_bytes_per_s).toBe(1048576);
    expect(
      (await api.request('GET', '/policies/slow-lane', undefined, as('viewer'))).body
        .max_bytes_per_s,
    ).toBe(1048576);
    const bad = await api.request(
      'POST',
      '/policies',
      { name: 'bad-lane', max_bytes_per_s: 0 },
      as('root'),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('body.max_bytes_per_s');
  });

  it('a plan takes its policy limit, or overrides it (null: none); a bad one names the field', async () => {
    await api.request('POST', '/policies', { name: 'lane', max_bytes_per_s: 2000 }, as('root'));
    const planWith = async (name: string, extra: Record<string, unknown>) => {
      const ds = await api.request(
        'POST',
        '/datasets',
        { name, path_uri: `file:///shared_storage/${name}`, policy: 'lane' },
        as('root'),
      );
      expect(ds.status).toBe(201);
      const res = await api.request(
        'POST',
        '/plan-migration',
        {
          dataset_id: ds.body.id,
          target_location: `file:///shared_storage/${name}-moved`,
          ...extra,
        },
        as('ops'),
      );
      return { res, datasetId: ds.body.id as number };
    };
    const rowOf = async (datasetId: number) =>
      (
        await api.store.db
          .selectFrom('migration_jobs')
          .select('max_bytes_per_s')
          .where('dataset_id', '=', datasetId)
          .executeTakeFirstOrThrow()
      ).max_bytes_per_s;

    const bad = await planWith('plan-bw-bad', { max_bytes_per_s: 'fast' });
    expect(bad.res.status).toBe(400);
    expect(bad.res.body.field).toBe('body.max_bytes_per_s');

    // Temporal cannot be reached: the job is recorded (enqueue_failed, 503) with its limit.
    const inherits = await planWith('plan-bw-policy', {});
    expect(inherits.res.status).toBe(503);
    expect(await rowOf(inherits.datasetId)).toBe(2000);
    const overrides = await planWith('plan-bw-own', { max_bytes_per_s: 50_000 });
    expect(await rowOf(overrides.datasetId)).toBe(50_000);
    const unlimited = await planWith('plan-bw-none', { max_bytes_per_s: null });
    expect(await rowOf(unlimited.datasetId)).toBeNull();

    const job = await api.request(
      'GET',
      `/jobs?dataset_id=${overrides.datasetId}`,
      undefined,
      as('viewer'),
    );
    expect(job.body.items[0]).toMatchObject({
      max_bytes_per_s: 50_000,
      progress: { bytes_per_s: null },
    });
  }, 60_000);
});
