import path from 'node:path';
import { decide, defaultTiers, DEFAULT_RULES, type TierTable } from '../placement';
import { measure, describeFigures } from '../bench/placement';
import { tempDir } from '../test/support/dim-process';
import { openDatabase, type OpenedDb } from './db';
import { computeRecommendations, getRecommendation, placementInputs } from './recommendations';
import { ensureDefaultTiers, listTiers, tierTable } from './tiers';

const NOW = Date.UTC(2025, 5, 1);
const DAY = 86_400_000;

describe('computeRecommendations (set-based)', () => {
  let store: OpenedDb;
  let tiers: TierTable;

  beforeAll(async () => {
    const dir = tempDir('recs');
    store = await openDatabase(path.join(dir, 'dim.db'));
    await ensureDefaultTiers(store.db, defaultTiers(dir));
    tiers = tierTable(await listTiers(store.db))!;
    const t = NOW - 10 * DAY;
    const flags = {
      pinned_tier: null,
      cost_target_usd_month: null,
      require_approval: 0,
      retire_source: 0,
      retire_grace_s: 0,
      auto_apply: 0,
    };
    await store.db
      .insertInto('policies')
      .values([
        {
          name: 'slo',
          latency_slo_ms: 50,
          min_residency_s: 0,
          hot_max_age_s: 60,
          warm_max_age_s: 600,
          created_at: t,
          updated_at: t,
          ...flags,
        },
        {
          name: 'slow',
          latency_slo_ms: null,
          min_residency_s: 0,
          hot_max_age_s: 3600,
          warm_max_age_s: 86_400,
          created_at: t,
          updated_at: t,
          ...flags,
        },
      ])
      .execute();
    const ds = (id: number, name: string, more: Record<string, unknown> = {}) => ({
      id,
      name,
      path_uri: `file:///shared_storage/${name}`,
      current_tier: 'hot' as const,
      size_bytes: 2 ** 30,
      object_count: 1,
      version: 1,
      last_access_ts: null,
      tier_since: t,
      created_at: t,
      updated_at: t,
      ...more,
    });
    await store.db
      .insertInto('datasets')
      .values([
        ds(1, 'no-usage'),
        ds(2, 'totals-only'),
        ds(3, 'dataset-column-only', { last_access_ts: NOW - 30_000 }),
        ds(4, 'both-newest-wins', { last_access_ts: NOW - 5_000 }),
        ds(5, 'with-slo-policy', { policy: 'slo' }),
        ds(6, 'with-slow-policy', { policy: 'slow' }),
      ])
      .execute();
    const totals = (dataset_id: number, last: number, reads: number) => ({
      dataset_id,
      read_count: reads,
      write_count: 1,
      bytes_read: reads * 1000,
      bytes_written: 10,
      lat_sum_ms: 0,
      lat_count: 0,
      last_access_ts: last,
    });
    await store.db
      .insertInto('access_totals')
      .values([
        totals(2, NOW - 300_000, 10),
        totals(4, NOW - 900_000, 20),
        totals(6, NOW - 1_800_000, 5),
      ])
      .execute();
  });
  afterAll(() => store.close());

  it('reads each dataset once, with its usage and its policy, in one query', async () => {
    const inputs = await placementInputs(store.db, {});
    expect(inputs.map((i) => i.signals.id)).toEqual([1, 2, 3, 4, 5, 6]);
    const [noUsage, totalsOnly, column, both, slo, slow] = inputs;
    expect(noUsage!.signals).toMatchObject({ last_access_ts: null, read_count: 0, bytes_read: 0 });
    expect(noUsage!.rules).toBe(DEFAULT_RULES);
    expect(totalsOnly!.signals).toMatchObject({
      last_access_ts: NOW - 300_000,
      read_count: 10,
      write_count: 1,
      bytes_read: 10_000,
      bytes_written: 10,
    });
    expect(column!.signals.last_access_ts).toBe(NOW - 30_000);
    expect(both!.signals.last_access_ts).toBe(NOW - 5_000);
    expect(slo!.rules).toMatchObject({ name: 'slo', latency_slo_ms: 50, min_residency_s: 0 });
    expect(slow!.rules).toMatchObject({ name: 'slow', hot_max_age_s: 3600 });
  });

  it('decides per row exactly as the pure function does, and stores every decision', async () => {
    const inputs = await placementInputs(store.db, {});
    const recs = await computeRecommendations(store.db, tiers, {}, NOW);
    expect(recs.map((r) => r.dataset_id)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const [i, r] of recs.entries()) {
      const d = decide(inputs[i]!.signals, inputs[i]!.rules, tiers, NOW);
      expect(r).toMatchObject({
        recommended_tier: d.recommended_tier,
        target_location: d.target_location,
        storage_class: d.storage_class,
        reason: d.reason,
        inputs: d.inputs,
        model_version: 'heuristic-v1',
        created_at: NOW,
      });
      expect(await getRecommendation(store.db, r.id)).toEqual(r);
    }
    expect(recs.map((r) => r.recommended_tier)).toEqual([
      'cold',
      'warm',
      'hot',
      'hot',
      'warm',
      'hot',
    ]);
  });

  it('scopes to one dataset, or a page after a cursor', async () => {
    expect(
      (await computeRecommendations(store.db, tiers, { datasetId: 4 }, NOW)).map(
        (r) => r.dataset_id,
      ),
    ).toEqual([4]);
    expect(
      (await computeRecommendations(store.db, tiers, { afterId: 2, limit: 3 }, NOW)).map(
        (r) => r.dataset_id,
      ),
    ).toEqual([3, 4, 5]);
    expect(await computeRecommendations(store.db, tiers, { afterId: 6 }, NOW)).toEqual([]);
  });

  it('100,000 datasets: one pass covers each once (prints the time; no timing assertion)', async () => {
    const f = await measure(100_000);
    expect(f.datasets).toBe(100_000);
    process.stdout.write(`\n${describeFigures(f)}\n`);
  }, 180_000);
});
