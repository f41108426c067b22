import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultTiers } from '../placement';
import { openDatabase, type OpenedDb } from '../store/db';
import { trainModel, type StoredModel } from '../store/models';
import { refreshRecommendations } from '../store/recommendations';
import { ensureDefaultTiers, listTiers, tierTable } from '../store/tiers';
import { seedDatasets } from './placement';

/**
 * How long `POST /train` takes (`trainModel`): 100,000 datasets × 30 days of hourly
 * buckets in `access_aggregates`, on a fresh SQLite file.
 *
 * `node bench/run.js train [datasets=100000] [days=30] [mix|dense] [runs=1]` prints the
 * figures; nothing asserts on them.
 *
 * - **mix**: the patterns operators see, one dataset in six each: always read (every
 *   hour), business hours (9–17 on weekdays), a weekly batch (3 hours on Sundays), new data
 *   that cools (every hour at first, ever rarer), rare archive reads (one hour in ~10 days),
 *   and idle (no bucket at all): about a third of all dataset-hours hold a bucket.
 * - **dense**: every dataset has a bucket in every hour (the worst case, 72 million rows at
 *   100,000 × 30 days).
 *
 * After training it also times the recommendation pass with the model (first: every
 * dataset's advice changes model version, so all are stored; then a steady pass).
 */

const HOUR = 3_600_000;
const DAY = 86_400_000;

type Pattern = (d: number, h: number, hod: number, dow: number, hours: number) => number;

/** Reads in hour `h` (0 = start of the window) of dataset `d`, by pattern; 0: no bucket. */
const PATTERNS: Pattern[] = [
  (d) => 1 + (d % 7),
  (_d, _h, hod, dow) => (dow >= 1 && dow <= 5 && hod >= 9 && hod < 17 ? 4 : 0),
  (_d, _h, hod, dow) => (dow === 0 && hod >= 2 && hod < 5 ? 50 : 0),
  (d, h, _hod, _dow, hours) => {
    const age = h + (d % 240);
    return (age * 2654435761) % 1000 < 1000 * Math.exp(-age / (hours / 4)) ? 2 : 0;
  },
  (d, h) => ((h + d * 37) % 240 === 0 ? 1 : 0),
  () => 0,
];

export function seedBuckets(
  store: OpenedDb,
  n: number,
  days: number,
  to: number,
  dense: boolean,
): number {
  const s = store.sqlite;
  const hours = days * 24;
  const from = to - days * DAY;
  const insert = s.prepare(
    `insert into access_aggregates (dataset_id, hour, read_count, write_count, bytes_read,
       bytes_written, lat_sum_ms, lat_count) values (?, ?, ?, ?, ?, 0, 0, 0)`,
  );
  let rows = 0;
  const chunk = 2000;
  for (let lo = 1; lo <= n; lo += chunk) {
    s.transaction(() => {
      for (let d = lo; d < Math.min(n + 1, lo + chunk); d++) {
        const pattern = PATTERNS[d % PATTERNS.length]!;
        for (let h = 0; h < hours; h++) {
          const hour = from + h * HOUR;
          const hod = (hour / HOUR) % 24;
          const dow = (Math.floor(hour / DAY) + 4) % 7; // 1970-01-01 was a Thursday
          const reads = dense ? 1 + ((d + h) % 5) : pattern(d, h, hod, dow, hours);
          if (reads === 0) continue;
          insert.run(d, hour, reads, (d + h) % 3 === 0 ? 1 : 0, reads * 1_048_576);
          rows++;
        }
      }
    })();
  }
  return rows;
}

export interface TrainFigures {
  datasets: number;
  buckets: number;
  seedMs: number;
  trainMs: number;
  cpuMs: number;
  /** The longest the event loop went without a turn during the training. */
  longestBlockMs: number;
  model: StoredModel;
  firstPassMs: number;
  steadyPassMs: number;
  steadyPassCpuMs: number;
}

const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

export async function measure(n: number, days: number, dense: boolean): Promise<TrainFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dim-bench-train-'));
  const store = await openDatabase(path.join(dir, 'dim.db'));
  try {
    const now = Date.now();
    const to = Math.floor(now / HOUR) * HOUR;
    let t = process.hrtime.bigint();
    await seedDatasets(store, n, now);
    const buckets = seedBuckets(store, n, days, to, dense);
    store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
    const seedMs = since(t);
    await ensureDefaultTiers(store.db, defaultTiers(path.join(dir, 'data')));
    const tiers = tierTable(await listTiers(store.db))!;

    // How long the event loop is held at a stretch while training runs.
    let longest = 0;
    let last = process.hrtime.bigint();
    const tick = setInterval(() => {
      const gap = since(last);
      if (gap > longest) longest = gap;
      last = process.hrtime.bigint();
    }, 1);
    const cpu = process.cpuUsage();
    t = process.hrtime.bigint();
    const model = await trainModel(store.db, { windowDays: days, holdoutDays: 3, now });
    const trainMs = since(t);
    const used = process.cpuUsage(cpu);
    clearInterval(tick);

    t = process.hrtime.bigint();
    await refreshRecommendations(store.db, tiers, {}, now + 60_000);
    const firstPassMs = since(t);
    const passCpu = process.cpuUsage();
    t = process.hrtime.bigint();
    await refreshRecommendations(store.db, tiers, {}, now + 120_000);
    const steadyPassMs = since(t);
    const passUsed = process.cpuUsage(passCpu);
    return {
      datasets: n,
      buckets,
      seedMs,
      trainMs,
      cpuMs: (used.user + used.system) / 1000,
      longestBlockMs: longest,
      model,
      firstPassMs,
      steadyPassMs,
      steadyPassCpuMs: (passUsed.user + passUsed.system) / 1000,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (v: number) => `${v.toFixed(0)} ms`;
const f3 = (v: number | null) => (v === null ? '-' : v.toFixed(3));

export const describeFigures = (f: TrainFigures): string =>
  `train, ${f.datasets} datasets, ${f.buckets} hourly buckets (seeded in ${ms(f.seedMs)}): ` +
  `POST /train ${ms(f.trainMs)} (cpu ${ms(f.cpuMs)}; event loop held at most ${ms(f.longestBlockMs)}) · ` +
  `${f.model.version}: WAPE of hourly reads ${f3(f.model.accuracy.model_wape)} vs naive ${f3(f.model.accuracy.naive_wape)} ` +
  `(MAE ${f3(f.model.accuracy.model_mae)} vs ${f3(f.model.accuracy.naive_mae)}) · ` +
  `recommendation pass with the model: first ${ms(f.firstPassMs)} (all stored), steady ${ms(f.steadyPassMs)} (cpu ${ms(f.steadyPassCpuMs)})`;

export async function main(args: string[]): Promise<void> {
  const n = Number(args[0] ?? 100_000);
  const days = Number(args[1] ?? 30);
  const dense = (args[2] ?? 'mix') === 'dense';
  const runs = Number(args[3] ?? 1);
  await measure(200, 7, dense); // warm-up
  for (let i = 0; i < runs; i++) {
    process.stdout.write(describeFigures(await measure(n, days, dense)) + '\n');
  }
}
