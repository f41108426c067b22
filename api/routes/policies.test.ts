import { startTestApi, type TestApi } from '../../test/support/api';

describe('policies API', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it('creates a policy with defaults for what it omits', async () => {
    const res = await api.request('POST', '/policies', { name: 'gold', latency_slo_ms: 20 });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/policies/gold');
    expect(res.body).toEqual({
      name: 'gold',
      latency_slo_ms: 20,
      pinned_tier: null,
      cost_target_usd_month: null,
      min_residency_s: 3600,
      hot_max_age_s: 60,
      warm_max_age_s: 600,
      require_approval: false,
      retire_source: false,
      retire_grace_s: 0,
      retire_linked_files: false,
      auto_apply: false,
      max_moves_per_sweep: 10,
      max_bytes_per_day: null,
      max_bytes_per_s: null,
      four_eyes: false,
      approvers: [],
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect((await api.request('GET', '/policies/gold')).body).toEqual(res.body);
  });

  it('replaces every value of an existing policy by name (200), keeping created_at', async () => {
    const before = (await api.request('GET', '/policies/gold')).body;
    await new Promise((r) => setTimeout(r, 5));
    const res = await api.request('POST', '/policies', {
      name: 'gold',
      pinned_tier: 'hot',
      require_approval: true,
      retire_source: true,
      retire_grace_s: 86400,
      retire_linked_files: true,
      auto_apply: true,
      cost_target_usd_month: 12.5,
      hot_max_age_s: 120,
      warm_max_age_s: 7200,
      min_residency_s: 0,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      name: 'gold',
      latency_slo_ms: null,
      pinned_tier: 'hot',
      require_approval: true,
      retire_source: true,
      retire_grace_s: 86400,
      retire_linked_files: true,
      auto_apply: true,
      cost_target_usd_month: 12.5,
      hot_max_age_s: 120,
      warm_max_age_s: 7200,
      min_residency_s: 0,
      created_at: before.created_at,
    });
    expect(res.body.updated_at > before.updated_at).toBe(true);
  });

  it('lists by name with cursor pagination', async () => {
    for (const n of ['a-1', 'b-2', 'c-3']) await api.request('POST', '/policies', { name: n });
    const first = await api.request('GET', '/policies?limit=2');
    expect(first.body.items.map((p: { name: string }) => p.name)).toEqual(['a-1', 'b-2']);
    const rest = await api.request('GET', `/policies?limit=2&cursor=${first.body.next_cursor}`);
    expect(rest.body.items.map((p: { name: string }) => p.name)).toEqual(['c-3', 'gold']);
    expect(rest.body.next_cursor).toBeNull();
  });

  it('lets datasets name a policy; refuses to delete one in use (409), deletes one not (204)', async () => {
    const ds = await api.request('POST', '/datasets', {
      name: 'uses-gold',
      path_uri: 'file:///shared_storage/uses-gold',
      policy: 'gold',
    });
    expect(ds.status).toBe(201);
    const inUse = await api.request('DELETE', '/policies/gold');
    expect(inUse.status).toBe(409);
    expect(inUse.body.detail).toMatch(/used by 1 dataset/);
    expect((await api.request('DELETE', '/policies/a-1')).status).toBe(204);
    expect((await api.request('GET', '/policies/a-1')).status).toBe(404);
    expect((await api.request('DELETE', '/policies/a-1')).status).toBe(404);
  });

  it('honours Idempotency-Key and writes the audit log', async () => {
    const headers = { 'Idempotency-Key': 'policy-silver-1' };
    const one = await api.request('POST', '/policies', { name: 'silver' }, headers);
    const two = await api.request('POST', '/policies', { name: 'silver' }, headers);
    expect(one.status).toBe(201);
    expect(two.status).toBe(201);
    expect(two.headers.get('idempotent-replayed')).toBe('true');
    const audit = await api.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'POST /policies')
      .execute();
    expect(audit.length).toBeGreaterThanOrEqual(1);
    expect(audit.some((a) => a.target === '/policies' && a.details.includes('silver'))).toBe(true);
  });
});
