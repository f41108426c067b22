import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Insertable } from 'kysely';
import { choose, defaultTiers } from '../placement';
import type { Db, OpenedDb } from '../store/db';
import type { Database } from '../store/schema';
import {
  computeRecommendations,
  placementInputs,
  refreshRecommendations,
  type RecommendationPass,
} from '../store/recommendations';
import { ensureDefaultTiers, listTiers, tierTable } from '../store/tiers';
import {
  BACKEND_LABEL,
  benchBackends,
  cpuMs,
  openBenchStore,
  type BenchBackend,
  type BenchStore,
} from './backends';

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
 * system) beside them, since the machine is shared; on PostgreSQL also the CPU ms of the
 * server backends that served the pass (`server`).
 *
 * `BENCH_DB=sqlite` (default), `postgres` (a fresh schema per run in BENCH_DATABASE_URL,
 * default dev/services' database; bench/backends.ts) or `sqlite,postgres`: the runs
 * interleaved, then a table with a column per store (min–max over the runs).
 */

const DAY = 86_400_000;

/** Inserts `rows` in multi-row INSERTs of `per` rows (within both backends' parameter limits). */
async function insertChunked<T extends 'datasets' | 'access_totals'>(
  db: Db,
  table: T,
  rows: Array<Insertable<Database[T]>>,
  per = 1000,
): Promise<void> {
  for (let i = 0; i < rows.length; i += per)
    await db
      .insertInto(table)
      .values(rows.slice(i, i + per))
      .execute();
}

/**
 * Seeds `n` datasets into a fresh database, on either backend (Kysely, one transaction): a
 * spread of tiers, sizes and ages; two in three have usage totals; one in ten a policy (an
 * SLO, a pin, a cost target).
 */
export async function seedDatasets(store: OpenedDb, n: number, now: number): Promise<void> {
  const tiers = ['hot', 'warm', 'cold'] as const;
  const policies = ['slo-50ms', 'pinned-hot', 'budget-1usd'];
  const policy = (
    name: string,
    latency_slo_ms: number | null,
    pinned_tier: 'hot' | null,
    cost_target_usd_month: number | null,
    min_residency_s: number,
  ) => ({
    name,
    latency_slo_ms,
    pinned_tier,
    cost_target_usd_month,
    min_residency_s,
    hot_max_age_s: 60,
    warm_max_age_s: 600,
    // The columns' defaults, which the schema's types do not mark as optional.
    require_approval: 0,
    retire_source: 0,
    retire_grace_s: 0,
    auto_apply: 0,
    four_eyes: 0,
    approvers: '[]',
    created_at: now,
    updated_at: now,
  });
  const datasets: Array<Insertable<Database['datasets']>> = [];
  const totals: Array<Insertable<Database['access_totals']>> = [];
  for (let i = 1; i <= n; i++) {
    const created = now - (i % 90) * DAY - 1000;
    // Last access spread from a second to a day ago; one in three never accessed.
    const last = i % 3 === 0 ? null : now - ((i * 7919) % 86_400) * 1000;
    datasets.push({
      id: i,
      name: `ds-${i}`,
      path_uri: `file:///shared_storage/ds-${i}`,
      current_tier: tiers[i % 3]!,
      size_bytes: ((i * 104_729) % 1024) * 1024 * 1024 * 16,
      object_count: 1,
      policy: i % 10 === 0 ? policies[(i / 10) % 3]! : null,
      version: 1,
      last_access_ts: last,
      tier_since: created + ((i * 31) % 3600) * 1000,
      created_at: created,
      updated_at: created,
    });
    if (last !== null) {
      const reads = (i * 13) % 5000;
      totals.push({
        dataset_id: i,
        read_count: reads,
        write_count: reads >> 3,
        bytes_read: reads * 65_536,
        bytes_written: (reads >> 3) * 65_536,
        lat_sum_ms: reads * 5,
        lat_count: reads,
        last_access_ts: last,
      });
    }
  }
  await store.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('policies')
      .values([
        policy('slo-50ms', 50, null, null, 3600),
        policy('pinned-hot', null, 'hot', null, 0),
        policy('budget-1usd', null, null, 1, 86_400),
      ])
      .execute();
    await insertChunked(trx, 'datasets', datasets);
    await insertChunked(trx, 'access_totals', totals);
  });
}

/** One pass: wall-clock and CPU time, and what it stored. */
export interface PassFigures {
  ms: number;
  /** This process's CPU time (user + system). */
  cpuMs: number;
  /** The database server's (PostgreSQL backends serving this process; 0 on SQLite). */
  serverCpuMs: number;
  stored: number;
  moves: number;
}

export interface PlacementFigures {
  backend: BenchBackend;
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

/** The CPU ms the database server's processes serving `bench` used so far (PostgreSQL). */
async function serverCpuMs(bench: BenchStore): Promise<Map<number, number>> {
  return new Map((await bench.ownServerPids()).map((pid) => [pid, cpuMs(pid)]));
}

async function timed(
  bench: BenchStore,
  run: () => Promise<RecommendationPass>,
): Promise<PassFigures> {
  const server0 = await serverCpuMs(bench);
  const cpu = process.cpuUsage();
  const t = process.hrtime.bigint();
  const pass = await run();
  const ms = since(t);
  const used = process.cpuUsage(cpu);
  let serverMs = 0;
  for (const [pid, used1] of await serverCpuMs(bench)) serverMs += used1 - (server0.get(pid) ?? 0);
  return {
    ms,
    cpuMs: (used.user + used.system) / 1000,
    serverCpuMs: serverMs,
    stored: pass.stored.length,
    moves: pass.moves,
  };
}

/**
 * 1% of the datasets (every 100th) read again just before `now`: what the bridge would
 * have aggregated between two sweeps.
 */
export async function touchDatasets(store: OpenedDb, n: number, now: number): Promise<number> {
  const rows: Array<Insertable<Database['access_totals']>> = [];
  for (let i = 100; i <= n; i += 100)
    rows.push({
      dataset_id: i,
      read_count: 1,
      write_count: 0,
      bytes_read: 65_536,
      bytes_written: 0,
      lat_sum_ms: 5,
      lat_count: 1,
      last_access_ts: now - ((i * 7919) % 30) * 1000,
    });
  await store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += 1000)
      await trx
        .insertInto('access_totals')
        .values(rows.slice(i, i + 1000))
        .onConflict((oc) =>
          oc.column('dataset_id').doUpdateSet({
            read_count: sql`access_totals.read_count + 1`,
            bytes_read: sql`access_totals.bytes_read + 65536`,
            lat_sum_ms: sql`access_totals.lat_sum_ms + 5`,
            lat_count: sql`access_totals.lat_count + 1`,
            last_access_ts: sql`excluded.last_access_ts`,
          }),
        )
        .execute();
  });
  return rows.length;
}

/**
 * Settles the store between the seeding and the timed passes, so that background work does
 * not land in them: SQLite checkpoints its WAL; PostgreSQL vacuums and analyzes the tables
 * the pass reads (planner statistics, visibility map), as autovacuum would soon after.
 */
async function settle(store: OpenedDb): Promise<void> {
  if (store.dialect === 'sqlite') {
    store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
    return;
  }
  await sql`vacuum analyze datasets, access_totals, policies, recommendations, recommendation_heads`.execute(
    store.db,
  );
}

/**
 * Seeds `n` datasets in a fresh store (a temp SQLite file, or a schema of its own on
 * PostgreSQL: bench/backends.ts) and times a first and a steady pass.
 */
export async function measure(
  n: number,
  backend: BenchBackend = 'sqlite',
): Promise<PlacementFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dim-bench-placement-'));
  const bench = await openBenchStore(backend, dir);
  const { store } = bench;
  try {
    const now = Date.now();
    await seedDatasets(store, n, now);
    await settle(store);
    await ensureDefaultTiers(store.db, defaultTiers(path.join(dir, 'data')));
    const tiers = tierTable(await listTiers(store.db))!;

    const first = await timed(bench, () => refreshRecommendations(store.db, tiers, {}, now));
    await settle(store);

    const later = now + 5 * 60_000;
    await touchDatasets(store, n, later);
    // The phases on their own (nothing stored)...
    let t = process.hrtime.bigint();
    const inputs = await placementInputs(store.db, {});
    const readMs = since(t);
    t = process.hrtime.bigint();
    for (const { signals, rules } of inputs) choose(signals, rules, tiers, later);
    const chooseMs = since(t);
    // ...and the real thing.
    const steady = await timed(bench, () => refreshRecommendations(store.db, tiers, {}, later));

    t = process.hrtime.bigint();
    const all = await computeRecommendations(store.db, tiers, {}, later);
    const readBackMs = since(t);
    if (all.length !== n) throw new Error(`expected ${n} recommendations, got ${all.length}`);
    return { backend, datasets: inputs.length, first, steady, readMs, chooseMs, readBackMs };
  } finally {
    await bench.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (v: number) => `${v.toFixed(0)} ms`;

const serverPart = (p: PassFigures) => (p.serverCpuMs > 0 ? `, server ${ms(p.serverCpuMs)}` : '');

export const describeFigures = (f: PlacementFigures): string =>
  `placement, ${BACKEND_LABEL[f.backend]}, ${f.datasets} datasets: ` +
  `steady pass ${ms(f.steady.ms)} (cpu ${ms(f.steady.cpuMs)}${serverPart(f.steady)}; ${f.steady.stored} changed and stored; ` +
  `the read alone ${ms(f.readMs)}, the choices alone ${ms(f.chooseMs)}) · ` +
  `first pass ${ms(f.first.ms)} (cpu ${ms(f.first.cpuMs)}${serverPart(f.first)}; ${f.first.stored} stored) · ` +
  `${f.steady.moves} would move · computeRecommendations with all read back ${ms(f.readBackMs)}`;

/** min–max of the runs, in ms. */
const range = (vs: number[]) => {
  const lo = Math.min(...vs).toFixed(0);
  const hi = Math.max(...vs).toFixed(0);
  return lo === hi ? `${lo} ms` : `${lo}–${hi} ms`;
};

/** A markdown table: a row per figure, a column per store, min–max over the runs. */
export function figuresTable(byBackend: Map<BenchBackend, PlacementFigures[]>): string {
  const rows: Array<[string, (f: PlacementFigures) => number]> = [
    ['steady pass (wall)', (f) => f.steady.ms],
    ['steady pass, CPU of this process', (f) => f.steady.cpuMs],
    ['steady pass, CPU of the database server', (f) => f.steady.serverCpuMs],
    ['of which the read query, on its own (wall)', (f) => f.readMs],
    ['of which the choices, on their own (wall)', (f) => f.chooseMs],
    ['first pass (wall)', (f) => f.first.ms],
    ['first pass, CPU of this process', (f) => f.first.cpuMs],
    ['first pass, CPU of the database server', (f) => f.first.serverCpuMs],
    ['computeRecommendations, all read back (wall)', (f) => f.readBackMs],
  ];
  const cols = [...byBackend];
  const first = cols[0]?.[1][0];
  return [
    `| ${first?.datasets ?? ''} datasets, ${first?.steady.stored ?? ''} changed in the steady pass | ${cols.map(([b]) => BACKEND_LABEL[b]).join(' | ')} |`,
    `| --- | ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map(
      ([name, f]) =>
        `| ${name} | ${cols.map(([b, fs]) => (b === 'sqlite' && name.includes('server') ? '(in process)' : range(fs.map(f)))).join(' | ')} |`,
    ),
  ].join('\n');
}

export async function main(args: string[]): Promise<void> {
  // `placement simulate ...`: the simulator's benchmark (bench/simulate.ts).
  if (args[0] === 'simulate') return (await import('./simulate')).main(args.slice(1));
  const n = Number(args[0] ?? 100_000);
  const runs = Number(args[1] ?? 3);
  const backends = benchBackends();
  const load0 = os.loadavg();
  // A warm-up pass on a small set, so the figure is not the JIT's first impression.
  for (const b of backends) await measure(1000, b);
  const byBackend = new Map<BenchBackend, PlacementFigures[]>(backends.map((b) => [b, []]));
  for (let i = 0; i < runs; i++)
    for (const b of backends) {
      const f = await measure(n, b);
      byBackend.get(b)!.push(f);
      process.stdout.write(describeFigures(f) + '\n');
    }
  const loads = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  process.stdout.write(
    `\nLoad average ${loads(load0)} at the start, ${loads(os.loadavg())} at the end; ${runs} run(s) per store, interleaved.\n\n` +
      figuresTable(byBackend) +
      '\n',
  );
}
