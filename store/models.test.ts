import path from 'node:path';
import {
  DEFAULT_FORECAST_PARAMS,
  HOUR_MS,
  accuracyOf,
  emptyScore,
  advance,
  defaultTiers,
  forecast,
  newUsageState,
  observe,
  scoreHoldout,
  type HourlyBucket,
  type TierTable,
} from '../placement';
import { tempDir } from '../test/support/dim-process';
import { datasetRow } from '../test/support/rows';
import type { OpenedDb } from './db';
import { openTestStore } from '../test/support/store';
import { KEEP_FORECASTS, getModel, latestModel, listModels, trainModel } from './models';
import { computeRecommendations } from './recommendations';
import { ensureDefaultTiers, listTiers, tierTable } from './tiers';

const DAY = 86_400_000;
/** Training ends here (a Monday, 00:00 UTC). */
const NOW = Date.UTC(2026, 0, 26);
const FROM = NOW - 30 * DAY;
const GB = 1e9;

/** Dataset 1 read in working hours all month; 2 never; 3 busy until 20 days ago. */
function series(id: number, h: number): number {
  const hod = h % 24;
  if (id === 1) return hod >= 9 && hod < 17 ? 6 : 0;
  if (id === 3) return h < 10 * 24 ? 6 : 0;
  return 0;
}

describe('models (training from access_aggregates)', () => {
  let store: OpenedDb;
  let tiers: TierTable;
  const buckets = new Map<number, HourlyBucket[]>();

  beforeAll(async () => {
    const dir = tempDir('models');
    store = await openTestStore(path.join(dir, 'dim.db'));
    await ensureDefaultTiers(store.db, defaultTiers(dir));
    tiers = tierTable(await listTiers(store.db))!;
    const rows = [1, 2, 3].map((id) => ({
      ...datasetRow(`ds${id}`, `file:///shared_storage/ds${id}`, {
        size_bytes: 100 * GB,
        created_at: FROM - DAY,
        tier_since: FROM - DAY,
      }),
      id,
    }));
    // Dataset 4 is registered after the window: the model has no forecast for it.
    rows.push({
      ...datasetRow('ds4', 'file:///shared_storage/ds4', { created_at: NOW + HOUR_MS }),
      id: 4,
    });
    await store.db.insertInto('datasets').values(rows).execute();
    const agg = [];
    for (const id of [1, 2, 3]) {
      const list: HourlyBucket[] = [];
      for (let h = 0; h < 30 * 24; h++) {
        const reads = series(id, h);
        if (reads === 0) continue;
        const hour = FROM + h * HOUR_MS;
        list.push({ hour, read_count: reads, write_count: 0, bytes_read: reads * GB });
        agg.push({
          dataset_id: id,
          hour,
          read_count: reads,
          write_count: 0,
          bytes_read: reads * GB,
          bytes_written: 0,
          lat_sum_ms: 0,
          lat_count: 0,
        });
      }
      buckets.set(id, list);
    }
    // One bucket outside the window (after it) is not used.
    agg.push({ ...agg[0]!, hour: NOW + HOUR_MS });
    for (let i = 0; i < agg.length; i += 200) {
      await store.db
        .insertInto('access_aggregates')
        .values(agg.slice(i, i + 200))
        .execute();
    }
  });
  afterAll(() => store.close());

  it('with no model, recommendations are the heuristic and say so', async () => {
    expect(await latestModel(store.db)).toBeUndefined();
    const recs = await computeRecommendations(store.db, tiers, {}, NOW);
    expect(recs.map((r) => r.model_version)).toEqual(Array(4).fill('heuristic-v1'));
    expect(recs[0]!.reason).toMatch(/No trained model covers this dataset \(POST \/train/);
  });

  it('trains: a version, the window, the accuracy against the naive forecast, one forecast per dataset', async () => {
    const m = await trainModel(store.db, { windowDays: 30, holdoutDays: 3, now: NOW + 60_000 });
    expect(m.version).toBe('forecast-1');
    expect(m.window_from).toBe(FROM);
    expect(m.window_to).toBe(NOW);
    expect(m.holdout_from).toBe(NOW - 3 * DAY);
    expect(m.datasets).toBe(3);
    expect(m.buckets).toBe([...buckets.values()].reduce((n, l) => n + l.length, 0));
    expect(m.params).toEqual(DEFAULT_FORECAST_PARAMS);
    expect(await getModel(store.db, 'forecast-1')).toEqual(m);

    // The same fold done by hand gives the same accuracy and forecasts.
    const split = NOW - 3 * DAY;
    let score = emptyScore();
    const expected = new Map<number, number>();
    for (const id of [1, 2, 3]) {
      const s = newUsageState(FROM);
      const list = buckets.get(id)!;
      for (const b of list) if (b.hour < split) observe(s, b);
      advance(s, split);
      score = scoreHoldout(
        s,
        list.filter((b) => b.hour >= split),
        split,
        NOW,
        DEFAULT_FORECAST_PARAMS,
        score,
      );
      for (const b of list) if (b.hour >= split) observe(s, b);
      expected.set(id, forecast(s, NOW, 168).reads_per_hour);
    }
    expect(m.accuracy).toEqual(accuracyOf(score));
    expect(m.accuracy.hours).toBe(3 * 72);
    expect(m.accuracy.model_wape!).toBeLessThan(m.accuracy.naive_wape!);

    const rows = await store.db
      .selectFrom('model_forecasts')
      .selectAll()
      .orderBy('dataset_id')
      .execute();
    expect(rows.map((r) => r.dataset_id)).toEqual([1, 2, 3]);
    for (const r of rows) expect(r.reads_per_hour).toBeCloseTo(expected.get(r.dataset_id)!, 9);
    expect(rows[0]!.reads_per_hour).toBeCloseTo(2, 0); // 48 reads a day
    expect(rows[1]!.reads_per_hour).toBe(0);
    expect(rows[1]!.p_access).toBe(0);
    expect(rows[2]!.reads_per_hour).toBeLessThan(rows[0]!.reads_per_hour / 2); // went quiet
  });

  it('the recommendation pass uses the latest model: its version, and the forecast in the reason', async () => {
    const recs = await computeRecommendations(store.db, tiers, {}, NOW + HOUR_MS);
    expect(recs.map((r) => r.model_version)).toEqual([
      'forecast-1',
      'forecast-1',
      'forecast-1',
      'heuristic-v1', // registered after the window
    ]);
    expect(recs[0]!.reason).toMatch(/^Model forecast-1 forecasts 2 reads\/hour/);
    expect(recs[0]!.recommended_tier).toBe('hot'); // 2 GB an hour: retrieval fees beat hot
    expect(recs[1]!.recommended_tier).toBe('cold');
    expect(recs[0]!.inputs.forecast?.model_version).toBe('forecast-1');
    const heuristic = await computeRecommendations(store.db, tiers, {}, NOW + HOUR_MS, {
      useModel: false,
    });
    expect(heuristic.map((r) => r.model_version)).toEqual(Array(4).fill('heuristic-v1'));
  });

  it('lists models newest first, pages, and keeps the forecasts of the latest few only', async () => {
    for (let i = 0; i < KEEP_FORECASTS; i++) await trainModel(store.db, { now: NOW });
    const all = await listModels(store.db, 10);
    expect(all.map((m) => m.version)).toEqual(
      Array.from({ length: KEEP_FORECASTS + 1 }, (_, i) => `forecast-${KEEP_FORECASTS + 1 - i}`),
    );
    const second = await listModels(store.db, 2, all[1]!.id);
    expect(second.map((m) => m.version)).toEqual([all[2]!.version, all[3]!.version]);
    const kept = await store.db
      .selectFrom('model_forecasts')
      .select('model_id')
      .distinct()
      .orderBy('model_id')
      .execute();
    expect(kept.map((k) => k.model_id)).toEqual([2, 3, 4]);
    expect((await latestModel(store.db))!.version).toBe(`forecast-${KEEP_FORECASTS + 1}`);
    expect(await getModel(store.db, 'forecast-99')).toBeUndefined();
  });
});
