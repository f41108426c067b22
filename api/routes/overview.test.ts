import { defaultTiers, monthlyCost, monthlyUsage, type TierName } from '../../placement';
import { ensureDefaultTiers } from '../../store/tiers';
import { startTestApi, type TestApi } from '../../test/support/api';

/** GET /overview's aggregates against the pure cost formula, and GET /datasets/{id}/replicas. */
describe('overview API', () => {
  let api: TestApi;
  const ids: Record<string, number> = {};
  const GB10 = 10 * 1e9;

  beforeAll(async () => {
    api = await startTestApi();
    for (const name of ['busy', 'idle']) {
      const res = await api.request('POST', '/datasets', {
        name,
        path_uri: `file:///shared_storage/ov-${name}`,
        size_bytes: GB10,
        owner: 'team-a',
      });
      expect(res.status).toBe(201);
      ids[name] = res.body.id;
    }
    const res = await api.request('POST', '/access-events', [
      { dataset_id: ids.busy, op: 'read', size_bytes: 4096, client_lat_ms: 2 },
      { dataset_id: ids.busy, op: 'write', size_bytes: 100, client_lat_ms: 3 },
    ]);
    expect(res.status).toBe(202);
  });
  afterAll(() => api.close());

  it('answers counts and bytes per tier, with no cost while the tier table is empty', async () => {
    const res = await api.request('GET', '/overview');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      caller: { name: 'anonymous', role: 'admin' },
      open: true,
      temporal_ui_url: null,
      tiers: [
        { tier: 'hot', datasets: 2, bytes: 2 * GB10 },
        { tier: 'warm', datasets: 0, bytes: 0 },
        { tier: 'cold', datasets: 0, bytes: 0 },
      ],
      cost: null,
      jobs: { running: 0, awaiting_approval: 0, failed_last_day: 0 },
    });
    expect(res.body.ingest.window_s).toBeGreaterThanOrEqual(3600);
  });

  it('projects the monthly cost now and under the standing recommendations, as placement/cost.ts does', async () => {
    const tiers = defaultTiers(api.dataDir);
    await ensureDefaultTiers(api.store.db, tiers);
    // The events reach the aggregates through the local log; the sweep stores the
    // recommendations (and their heads) that the overview reads.
    expect((await api.request('POST', '/sweep')).status).toBe(200);
    const recs = await api.request('GET', '/recommendations');
    expect(recs.status).toBe(200);
    const res = await api.request('GET', '/overview');
    expect(res.status).toBe(200);
    const table = tiers;
    const now = Date.now();
    let before = 0;
    let after = 0;
    let moves = 0;
    for (const r of recs.body.items) {
      const ds = (await api.request('GET', `/datasets/${r.dataset_id}`)).body;
      const usage = monthlyUsage(
        { size_bytes: ds.size_bytes, ...ds.usage },
        Date.parse(ds.created_at),
        now,
      );
      before += monthlyCost(table[r.current_tier as TierName], usage).total;
      after += monthlyCost(table[r.recommended_tier as TierName], usage).total;
      if (r.recommended_tier !== r.current_tier) moves++;
    }
    expect(moves).toBeGreaterThan(0); // the idle one: never read, so not hot
    expect(res.body.cost.datasets_to_move).toBe(moves);
    expect(res.body.cost.monthly_now_usd).toBeCloseTo(before, 6);
    expect(res.body.cost.monthly_recommended_usd).toBeCloseTo(after, 6);
    expect(res.body.cost.saving_usd_month).toBeCloseTo(before - after, 6);
    expect(res.body.cost.saving_usd_month).toBeGreaterThan(0);
  });

  it('counts migrations running, waiting and failed in the last day', async () => {
    const base = {
      dataset_id: ids.idle!,
      source_uri: 'file:///shared_storage/ov-idle',
      dest_storage_class: 'standard',
      target_tier: 'cold' as const,
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
      approved_by: null,
      cancelled_by: null,
      retired_by: null,
      source_key: null,
      dest_key: null,
    };
    const day = 86_400_000;
    const rows = [
      ['copying', Date.now()],
      ['awaiting_approval', Date.now()],
      ['failed', Date.now()],
      ['failed', Date.now() - 2 * day],
      ['completed', Date.now()],
    ] as const;
    for (const [i, [status, ts]] of rows.entries()) {
      await api.store.db
        .insertInto('migration_jobs')
        .values({
          ...base,
          job_id: `00000000-0000-4000-8000-00000000000${i}`,
          job_key: `ov-${i}`,
          workflow_id: `migration-ov-${i}`,
          dest_uri: `file:///shared_storage/ov-dest-${i}`,
          status,
          submitted_at: ts,
          updated_at: ts,
        })
        .execute();
    }
    const res = await api.request('GET', '/overview');
    expect(res.body.jobs).toEqual({ running: 1, awaiting_approval: 1, failed_last_day: 1 });
  });

  it('lists the replicas of a dataset; an unknown dataset is a 404', async () => {
    const now = Date.now();
    await api.store.db
      .insertInto('replicas')
      .values({
        dataset_id: ids.busy!,
        uri: 'file:///shared_storage/ov-busy',
        storage_class: 'standard',
        tier: 'hot',
        role: 'primary',
        job_id: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    const res = await api.request('GET', `/datasets/${ids.busy}/replicas`);
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([
      expect.objectContaining({ uri: 'file:///shared_storage/ov-busy', role: 'primary' }),
    ]);
    expect((await api.request('GET', '/datasets/999999/replicas')).status).toBe(404);
  });
});
