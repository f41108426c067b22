import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { choose, defaultTiers } from '../placement';
import { openDatabase, type OpenedDb } from '../store/db';
import {
  computeRecommendations,
  placementInputs,
  refreshRecommendations,
  type RecommendationPass,
} from '../store/recommendations';
import { ensureDefaultTiers, listTiers, tierTable } from '../store/tiers';

/**
 * How long a placement pass over every dataset takes (`refreshRecommendations`, which
 * `GET /recommendations` runs for its page): one read query per 20,000 datasets, the pure choice per row, the reason,
 * inputs and an INSERT only where the advice changed. Two passes per run:
 *
 * - **first**: a fresh database, no recommendation yet, so every dataset gets one stored;
 * - **steady**: five minutes later (a sweep interval), after 1% of the datasets were read
 *   again: only the advice that changed is stored.
 *
 * `node bench/run.js placement simulate ...` is the simulator's benchmark instead (bench/simulate.ts).
 *
 * `node bench/run.js placement [datasets] [runs]` (default 100,000 and 3) prints the
 * figures; nothing asserts on them. Wall-clock ms, and the CPU ms of this process (user +
 * system) beside them, since the machine is shared.
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

/** One pass: wall-clock and CPU time, and what it stored. */
export interface PassFigures {
  ms: number;
  cpuMs: number;
  stored: number;
  moves: number;
}

export interface PlacementFigures {
  datasets: number;
  first: PassFigures;
  steady: PassFigures;
  /** Of the steady pass, on their own: the read query (rows turned into signals)... */
  readMs: number;
  /** ...and the pure choices (no reason, no inputs). */
  chooseMs: number;
  /** `computeRecommendations` for all: a steady pass plus every standing recommendation read back as objects. */
  readBackMs: number;
}

const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

async function timed(run: () => Promise<RecommendationPass>): Promise<PassFigures> {
  const cpu = process.cpuUsage();
  const t = process.hrtime.bigint();
  const pass = await run();
  const ms = since(t);
  const used = process.cpuUsage(cpu);
  return {
    ms,
    cpuMs: (used.user + used.system) / 1000,
    stored: pass.stored.length,
    moves: pass.moves,
  };
}

/**
 * 1% of the datasets (every 100th) read again just before `now`: what the bridge would
 * have aggregated between two sweeps.
 */
export function touchDatasets(store: OpenedDb, n: number, now: number): number {
  const s = store.sqlite;
  const upsert = s.prepare(
    `insert into access_totals (dataset_id, read_count, write_count, bytes_read, bytes_written,
       lat_sum_ms, lat_count, last_access_ts) values (?, 1, 0, 65536, 0, 5, 1, ?)
     on conflict (dataset_id) do update set read_count = read_count + 1,
       bytes_read = bytes_read + 65536, lat_sum_ms = lat_sum_ms + 5, lat_count = lat_count + 1,
       last_access_ts = excluded.last_access_ts`,
  );
  let touched = 0;
  s.transaction(() => {
    for (let i = 100; i <= n; i += 100, touched++) upsert.run(i, now - ((i * 7919) % 30) * 1000);
  })();
  return touched;
}

/** Seeds `n` datasets in a temp SQLite file and times a first and a steady pass. */
export async function measure(n: number): Promise<PlacementFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dim-bench-placement-'));
  const store = await openDatabase(path.join(dir, 'dim.db'));
  try {
    const now = Date.now();
    seedDatasets(store, n, now);
    store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
    await ensureDefaultTiers(store.db, defaultTiers(path.join(dir, 'data')));
    const tiers = tierTable(await listTiers(store.db))!;

    const first = await timed(() => refreshRecommendations(store.db, tiers, {}, now));
    store.sqlite.pragma('wal_checkpoint(TRUNCATE)');

    const later = now + 5 * 60_000;
    touchDatasets(store, n, later);
    // The phases on their own (nothing stored)...
    let t = process.hrtime.bigint();
    const inputs = await placementInputs(store.db, {});
    const readMs = since(t);
    t = process.hrtime.bigint();
    for (const { signals, rules } of inputs) choose(signals, rules, tiers, later);
    const chooseMs = since(t);
    // ...and the real thing.
    const steady = await timed(() => refreshRecommendations(store.db, tiers, {}, later));

    t = process.hrtime.bigint();
    const all = await computeRecommendations(store.db, tiers, {}, later);
    const readBackMs = since(t);
    if (all.length !== n) throw new Error(`expected ${n} recommendations, got ${all.length}`);
    return { datasets: inputs.length, first, steady, readMs, chooseMs, readBackMs };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (v: number) => `${v.toFixed(0)} ms`;

export const describeFigures = (f: PlacementFigures): string =>
  `placement, ${f.datasets} datasets: ` +
  `steady pass ${ms(f.steady.ms)} (cpu ${ms(f.steady.cpuMs)}; ${f.steady.stored} changed and stored; ` +
  `the read alone ${ms(f.readMs)}, the choices alone ${ms(f.chooseMs)}) · ` +
  `first pass ${ms(f.first.ms)} (cpu ${ms(f.first.cpuMs)}; ${f.first.stored} stored) · ` +
  `${f.steady.moves} would move · computeRecommendations with all read back ${ms(f.readBackMs)}`;

export async function main(args: string[]): Promise<void> {
  // `placement simulate ...`: the simulator's benchmark (bench/simulate.ts).
  if (args[0] === 'simulate') return (await import('./simulate')).main(args.slice(1));
  const n = Number(args[0] ?? 100_000);
  const runs = Number(args[1] ?? 3);
  // A warm-up pass on a small set, so the figure is not the JIT's first impression.
  await measure(1000);
  for (let i = 0; i < runs; i++) process.stdout.write(describeFigures(await measure(n)) + '\n');
}
