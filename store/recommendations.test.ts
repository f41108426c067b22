import path from 'node:path';
import { decide, defaultTiers, DEFAULT_RULES, type TierTable } from '../placement';
import { measure, describeFigures } from '../bench/placement';
import { tempDir } from '../test/support/dim-process';
import type { OpenedDb } from './db';
import { openTestStore } from '../test/support/store';
import {
  computeRecommendations,
  getRecommendation,
  placementInputs,
  refreshRecommendations,
} from './recommendations';
import { ensureDefaultTiers, listTiers, tierTable } from './tiers';

const NOW = Date.UTC(2025, 5, 1);
const DAY = 86_400_000;

describe('computeRecommendations (set-based)', () => {
  let store: OpenedDb;
  let tiers: TierTable;

  beforeAll(async () => {
    const dir = tempDir('recs');
    store = await openTestStore(path.join(dir, 'dim.db'));
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
      four_eyes: 0,
      approvers: '[]',
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

describe('recommendations change only when the advice does', () => {
  let store: OpenedDb;
  let tiers: TierTable;
  const t = NOW - 10 * DAY;

  beforeAll(async () => {
    const dir = tempDir('recs-changes');
    store = await openTestStore(path.join(dir, 'dim.db'));
    await ensureDefaultTiers(store.db, defaultTiers(dir));
    tiers = tierTable(await listTiers(store.db))!;
    await store.db
      .insertInto('datasets')
      .values(
        [1, 2, 3].map((id) => ({
          id,
          name: `ds-${id}`,
          path_uri: `file:///shared_storage/ds-${id}`,
          current_tier: 'hot' as const,
          size_bytes: 2 ** 30,
          object_count: 1,
          version: 1,
          last_access_ts: NOW - 5_000,
          tier_since: t,
          created_at: t,
          updated_at: t,
        })),
      )
      .execute();
  });
  afterAll(() => store.close());

  const count = async () =>
    Number(
      (
        await store.db
          .selectFrom('recommendations')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('a second pass with the same advice stores nothing and answers the standing ones', async () => {
    const first = await computeRecommendations(store.db, tiers, {}, NOW);
    expect(first.map((r) => [r.dataset_id, r.recommended_tier])).toEqual([
      [1, 'hot'],
      [2, 'hot'],
      [3, 'hot'],
    ]);
    // 20 s later: the reason would now say "25 s ago", the advice is the same.
    const pass = await refreshRecommendations(store.db, tiers, {}, NOW + 20_000);
    expect(pass.stored).toEqual([]);
    expect(pass.standing).toEqual(first.map((r) => r.id));
    expect(await computeRecommendations(store.db, tiers, {}, NOW + 20_000)).toEqual(first);
    expect(await count()).toBe(3);
  });

  it('stores a new one, for that dataset only, when its recommended tier changes', async () => {
    const before = await computeRecommendations(store.db, tiers, {}, NOW);
    // Dataset 2 read again 5 minutes from now; the others are by then warm.
    await store.db
      .updateTable('datasets')
      .set({ last_access_ts: NOW + 290_000 })
      .where('id', '=', 2)
      .execute();
    const later = NOW + 300_000;
    const pass = await refreshRecommendations(store.db, tiers, {}, later);
    expect(pass.stored.map((r) => [r.dataset_id, r.recommended_tier])).toEqual([
      [1, 'warm'],
      [3, 'warm'],
    ]);
    expect(pass.stored.every((r) => r.created_at === later)).toBe(true);
    const now = await computeRecommendations(store.db, tiers, {}, later);
    expect(now[1]).toEqual(before[1]);
    expect(now[0]!.id).toBeGreaterThan(before[2]!.id);
    expect(now[0]).toMatchObject({
      recommended_tier: 'warm',
      created_at: later,
      reason: expect.stringMatching(/^Last accessed 5 min ago/),
    });
    expect(await count()).toBe(5);
  });

  it('stores a new one when the current tier, target location, storage class or model version changes', async () => {
    const later = NOW + 300_000;
    const ids = async (t: TierTable = tiers) =>
      (await computeRecommendations(store.db, t, {}, later)).map((r) => r.id);
    const newer = (now: number[], before: number[]) => now.map((id, i) => id > before[i]!);
    let before = await ids();

    // Dataset 3 is now in cold: advised to stay there (a move to warm would cost more a
    // month and never pay back), a new recommendation.
    await store.db
      .updateTable('datasets')
      .set({ current_tier: 'cold' })
      .where('id', '=', 3)
      .execute();
    let now = await ids();
    expect(newer(now, before)).toEqual([false, false, true]);

    // The warm tier's location changes: dataset 1 (advised to move there) gets a new
    // target; datasets 2 and 3 (staying where they are, at their own URIs) keep theirs.
    const moved = {
      ...tiers,
      warm: { ...tiers.warm, location_template: 'file:///elsewhere/{id}' },
    };
    [before, now] = [now, await ids(moved)];
    expect(newer(now, before)).toEqual([true, false, false]);
    expect((await getRecommendation(store.db, now[0]!))!.target_location).toBe(
      'file:///elsewhere/1',
    );

    // The hot tier's storage class changes: only dataset 2 (in hot) is affected.
    const recast = { ...moved, hot: { ...moved.hot, storage_class: 'premium' } };
    [before, now] = [now, await ids(recast)];
    expect(newer(now, before)).toEqual([false, true, false]);
    expect((await getRecommendation(store.db, now[1]!))!.storage_class).toBe('premium');

    // A recommendation from another model version does not stand for this one's.
    await store.db
      .updateTable('recommendations')
      .set({ model_version: 'heuristic-v0' })
      .where('id', '=', now[0]!)
      .execute();
    await store.db
      .updateTable('recommendation_heads')
      .set({ model_version: 'heuristic-v0' })
      .where('recommendation_id', '=', now[0]!)
      .execute();
    [before, now] = [now, await ids(recast)];
    expect(newer(now, before)).toEqual([true, false, false]);
    expect((await getRecommendation(store.db, now[0]!))!.model_version).toBe('heuristic-v1');

    // The recommended tier alone: hot and warm at the same location, in the same class,
    // and dataset 3 (in cold) read heavily, so that leaving cold pays back: advised warm
    // (last read 400 s ago), then, read a second ago, advised hot.
    const alike = {
      ...recast,
      hot: {
        ...recast.hot,
        location_template: recast.warm.location_template,
        storage_class: recast.warm.storage_class,
      },
    };
    [before, now] = [now, await ids(alike)];
    expect(newer(now, before)).toEqual([false, true, false]);
    await store.db
      .insertInto('access_totals')
      .values({
        dataset_id: 3,
        read_count: 100,
        write_count: 0,
        bytes_read: 100 * 10 ** 9,
        bytes_written: 0,
        lat_sum_ms: 0,
        lat_count: 0,
        last_access_ts: later - 400_000,
      })
      .execute();
    [before, now] = [now, await ids(alike)];
    expect(newer(now, before)).toEqual([false, false, true]);
    await store.db
      .updateTable('datasets')
      .set({ last_access_ts: later - 1000 })
      .where('id', '=', 3)
      .execute();
    [before, now] = [now, await ids(alike)];
    expect(newer(now, before)).toEqual([false, false, true]);
    const [was, is] = [
      await getRecommendation(store.db, before[2]!),
      await getRecommendation(store.db, now[2]!),
    ];
    expect([was!.recommended_tier, is!.recommended_tier]).toEqual(['warm', 'hot']);
    expect(is!.target_location).toBe(was!.target_location);

    // Nothing changed since: nothing stored.
    expect((await refreshRecommendations(store.db, alike, {}, later + 1000)).stored).toEqual([]);

    // Each dataset's head is its newest recommendation, with that recommendation's advice.
    const heads = await store.db
      .selectFrom('recommendation_heads as h')
      .innerJoin('recommendations as r', 'r.id', 'h.recommendation_id')
      .select([
        'h.dataset_id',
        'h.recommendation_id',
        'h.recommended_tier',
        'r.recommended_tier as r_tier',
        'h.target_location',
        'r.target_location as r_target',
      ])
      .orderBy('h.dataset_id')
      .execute();
    expect(heads.map((h) => h.recommendation_id)).toEqual(now);
    for (const h of heads) {
      expect([h.recommended_tier, h.target_location]).toEqual([h.r_tier, h.r_target]);
    }
  });
});
