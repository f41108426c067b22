import { defaultTiers } from '../../placement';
import { ensureDefaultTiers } from '../../store/tiers';
import { startTestApi, type TestApi } from '../../test/support/api';

describe('tiers API', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it('seeds the embedded defaults once: three file:// tiers under the data dir', async () => {
    expect((await api.request('GET', '/tiers')).body.items).toEqual([]);
    expect(await ensureDefaultTiers(api.store.db, defaultTiers(api.dataDir))).toBe(true);
    expect(await ensureDefaultTiers(api.store.db, defaultTiers('/elsewhere'))).toBe(false);
    const res = await api.request('GET', '/tiers');
    expect(res.status).toBe(200);
    expect(res.body.items.map((t: { name: string }) => t.name)).toEqual(['hot', 'warm', 'cold']);
    expect(res.body.items[0]).toEqual({
      name: 'hot',
      location_template: `file://${api.dataDir}/storage/hot/{name}`,
      storage_class: 'standard',
      read_latency_ms: 1,
      price_gb_month: 0.1,
      price_retrieval_gb: 0,
      price_per_1k_requests: 0,
      min_storage_days: 0,
      egress_gb: 0,
      updated_at: expect.any(String),
    });
    expect(res.body.items[2]).toMatchObject({ read_latency_ms: 200, min_storage_days: 90 });
  });

  it('replaces the whole table; a GET answer can be sent back as is', async () => {
    const got = (await api.request('GET', '/tiers')).body;
    got.items[1].location_template = 's3://dim-warm/{name}';
    got.items[1].storage_class = 'standard-ia';
    got.items[2].location_template = 'gs://dim-cold/{id}';
    got.items[2].storage_class = 'coldline';
    got.items[2].egress_gb = 0.12;
    const res = await api.request('PUT', '/tiers', got);
    expect(res.status).toBe(200);
    expect(res.body.items[1]).toMatchObject({
      location_template: 's3://dim-warm/{name}',
      storage_class: 'STANDARD_IA',
    });
    expect(res.body.items[2]).toMatchObject({ storage_class: 'COLDLINE', egress_gb: 0.12 });
    expect((await api.request('GET', '/tiers')).body.items).toEqual(res.body.items);
  });

  it('fills optional prices with 0 and accepts the tiers in any order', async () => {
    const res = await api.request('PUT', '/tiers', {
      items: [
        {
          name: 'cold',
          location_template: `file://${api.dataDir}/storage/c/{name}`,
          storage_class: 'standard',
          read_latency_ms: 100,
          price_gb_month: 0.001,
        },
        {
          name: 'hot',
          location_template: `file://${api.dataDir}/storage/h/{name}`,
          storage_class: 'standard',
          read_latency_ms: 1,
          price_gb_month: 0.2,
        },
        {
          name: 'warm',
          location_template: `file://${api.dataDir}/storage/w/{name}`,
          storage_class: 'standard',
          read_latency_ms: 10,
          price_gb_month: 0.02,
        },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.items.map((t: { name: string }) => t.name)).toEqual(['hot', 'warm', 'cold']);
    expect(res.body.items[2]).toMatchObject({
      price_retrieval_gb: 0,
      min_storage_days: 0,
      egress_gb: 0,
    });
    const audit = await api.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'PUT /tiers')
      .execute();
    expect(audit).toHaveLength(2);
  });
});
