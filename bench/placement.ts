import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decide, defaultTiers } from '../placement';
import { openDatabase, type OpenedDb } from '../store/db';
import { computeRecommendations, placementInputs } from '../store/recommendations';
import { ensureDefaultTiers, listTiers, tierTable } from '../store/tiers';

/**
 * How long computing recommendations for every dataset takes: one query, the pure
 * decision per row, batched inserts. `node bench/run.js placement [datasets]` (default
 * 100,000) prints the figures; nothing asserts on them.
 */

const DAY = 86_400_000;

/**
 * Seeds `n` datasets into a fresh database: a spread of tiers, sizes and ages; two in
 * three have usage totals; one in ten a policy (an SLO, a pin, a cost target).
 */
export function seedDatasets(store: OpenedDb, n: number, now: number): void {
  const s = store.sqlite;
  const insertPolicy = s.prepare(
    `insert into policies (name, latency_slo_ms, pinned_tier, cost_target_usd_month, min_residency_s,
       hot_max_age_s, warm_max_age_s, created_at, updated_at) values (?, ?, ?, ?, ?, 60, 600, ?, ?)`,
  );
  const insertDataset = s.prepare(
    `insert into datasets (id, name, path_uri, current_tier, size_bytes, object_count, policy,
       version, last_access_ts, tier_since, created_at, updated_at)
     values (?, ?, ?, ?, ?, 1, ?, 1, ?, ?, ?, ?)`,
  );
  const insertTotals = s.prepare(
    `insert into access_totals (dataset_id, read_count, write_count, bytes_read, bytes_written,
       lat_sum_ms, lat_count, last_access_ts) values (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const tiers = ['hot', 'warm', 'cold'] as const;
  const policies = ['slo-50ms', 'pinned-hot', 'budget-1usd'];
  s.transaction(() => {
    insertPolicy.run('slo-50ms', 50, null, null, 3600, now, now);
    insertPolicy.run('pinned-hot', null, 'hot', null, 0, now, now);
    insertPolicy.run('budget-1usd', null, null, 1, 86_400, now, now);
    for (let i = 1; i <= n; i++) {
      const created = now - (i % 90) * DAY - 1000;
      // Last access spread from a second to a day ago; one in three never accessed.
      const last = i % 3 === 0 ? null : now - ((i * 7919) % 86_400) * 1000;
      insertDataset.run(
        i,
        `ds-${i}`,
        `file:///shared_storage/ds-${i}`,
        tiers[i % 3],
        ((i * 104_729) % 1024) * 1024 * 1024 * 16,
        i % 10 === 0 ? policies[(i / 10) % 3] : null,
        last,
        created + ((i * 31) % 3600) * 1000,
        created,
        created,
      );
      if (last !== null) {
        const reads = (i * 13) % 5000;
        insertTotals.run(
          i,
          reads,
          reads >> 3,
          reads * 65_536,
          (reads >> 3) * 65_536,
          reads * 5,
          reads,
          last,
        );
      }
    }
  })();
}

export interface PlacementFigures {
  datasets: number;
  /** The whole pass: read, decide, store. */
  ms: number;
  /** Of which: the one read query (and turning its rows into signals). */
  readMs: number;
  /** Of which: the pure decisions. */
  decideMs: number;
  perSecond: number;
  moves: number;
}

const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

/** Seeds `n` datasets in a temp SQLite file and times one full recommendation pass. */
export async function measure(n: number): Promise<PlacementFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dim-bench-placement-'));
  const store = await openDatabase(path.join(dir, 'dim.db'));
  try {
    const now = Date.now();
    seedDatasets(store, n, now);
    store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
    await ensureDefaultTiers(store.db, defaultTiers(path.join(dir, 'data')));
    const tiers = tierTable(await listTiers(store.db))!;

    // The phases on their own (nothing stored)...
    let t = process.hrtime.bigint();
    const inputs = await placementInputs(store.db, {});
    const readMs = since(t);
    t = process.hrtime.bigint();
    for (const { signals, rules } of inputs) decide(signals, rules, tiers, now);
    const decideMs = since(t);

    // ...and the real thing.
    t = process.hrtime.bigint();
    const recs = await computeRecommendations(store.db, tiers, {}, now);
    const ms = since(t);
    return {
      datasets: recs.length,
      ms,
      readMs,
      decideMs,
      perSecond: Math.round((recs.length / ms) * 1000),
      moves: recs.filter((r) => r.recommended_tier !== r.current_tier).length,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const describeFigures = (f: PlacementFigures): string =>
  `placement: ${f.datasets} datasets → recommendations computed and stored in ${f.ms.toFixed(0)} ms ` +
  `(${f.perSecond}/s; the read query alone ${f.readMs.toFixed(0)} ms, the decisions alone ` +
  `${f.decideMs.toFixed(0)} ms, so storing ≈ ${(f.ms - f.readMs - f.decideMs).toFixed(0)} ms; ` +
  `${f.moves} would move)`;

export async function main(args: string[]): Promise<void> {
  const n = Number(args[0] ?? 100_000);
  const runs = Number(args[1] ?? 3);
  // A warm-up pass on a small set, so the figure is not the JIT's first impression.
  await measure(1000);
  for (let i = 0; i < runs; i++) process.stdout.write(describeFigures(await measure(n)) + '\n');
}
