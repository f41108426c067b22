import { DAY_MS, monthlyCost, moveCost } from '../cost';
import { TIER_NAMES, type PlacementRules, type TierName, type TierTable } from '../types';
import type { SimDataset, Trace } from './trace';

/**
 * The cost contract of `dim simulate` (issue 10, item 6), applied to one dataset's schedule.
 * USD, GB = 10^9 bytes, a month = 730 hours:
 *
 * - storage: size/GB × price_gb_month × hours held / 730;
 * - each read: size_bytes/GB × (price_retrieval_gb + egress_gb) + price_per_1k_requests/1000,
 *   each write: price_per_1k_requests/1000, of the tier the dataset is in during the step;
 * - each move a → b: size/GB × (price_retrieval_gb(a) + egress_gb(a)) + object_count ×
 *   price_per_1k_requests(b)/1000, plus the early-deletion charge size/GB × price_gb_month(a)
 *   × remaining hours / 730 when a was held less than min_storage_days(a) (the initial tier
 *   counts from the start of the trace); none at the end of the trace.
 *
 * These are cost.ts's formulas: `monthlyCost` with the event counts of a step in place of
 * monthly rates gives a step's access cost, its storage term × hours / 730 the storage, and
 * `moveCost` (remaining days / (730/24) = remaining hours / 730) the move and its early
 * deletion. So nothing here restates a price formula.
 */

/** Tier index: 0 hot, 1 warm, 2 cold (TIER_NAMES order). */
export type Tier = 0 | 1 | 2;
export const tierIndex = (t: TierName): Tier => TIER_NAMES.indexOf(t) as Tier;

export interface Totals {
  storage_usd: number;
  access_usd: number;
  move_usd: number;
  early_delete_usd: number;
  moves: number;
  slo_violations: number;
}

export const zeroTotals = (): Totals => ({
  storage_usd: 0,
  access_usd: 0,
  move_usd: 0,
  early_delete_usd: 0,
  moves: 0,
  slo_violations: 0,
});

/** What every strategy needs to know of one dataset. Built once per dataset. */
export interface DatasetCtx {
  index: number;
  ds: SimDataset;
  rules: PlacementRules;
  /** The SLO that applies: the stricter of the dataset's and its policy's (null: none). */
  slo: number | null;
  init: Tier;
  /** Its active steps are [a0, a1) of the trace's arrays. */
  a0: number;
  a1: number;
  /** USD per step held in each tier. */
  storagePerStep: Float64Array;
  /** Tiers whose read latency meets the SLO (the fastest alone when none does). */
  allowed: boolean[];
}

/** The access cost of each active step in each tier: `acc[3·a + tier]`. */
export function accessCosts(trace: Trace, tiers: TierTable): Float64Array {
  const m = trace.step.length;
  const acc = new Float64Array(3 * m);
  for (let a = 0; a < m; a++) {
    for (let x = 0; x < 3; x++) {
      acc[3 * a + x] = monthlyCost(tiers[TIER_NAMES[x]!], {
        size_bytes: 0,
        reads_per_month: trace.reads[a]!,
        writes_per_month: trace.writes[a]!,
        bytes_read_per_month: trace.bytesRead[a]!,
      }).total;
    }
  }
  return acc;
}

export function strictestSlo(ds: SimDataset, rules: PlacementRules): number | null {
  const a = ds.latency_slo_ms;
  const b = rules.latency_slo_ms;
  return a === null ? b : b === null ? a : Math.min(a, b);
}

export function datasetCtx(
  trace: Trace,
  tiers: TierTable,
  index: number,
  rules: PlacementRules,
): DatasetCtx {
  const ds = trace.datasets[index]!;
  const slo = strictestSlo(ds, rules);
  const hours = trace.stepMs / 3_600_000;
  const storagePerStep = new Float64Array(3);
  for (let x = 0; x < 3; x++) {
    const spec = tiers[TIER_NAMES[x]!];
    const month = monthlyCost(spec, {
      size_bytes: ds.size_bytes,
      reads_per_month: 0,
      writes_per_month: 0,
      bytes_read_per_month: 0,
    }).storage;
    storagePerStep[x] = (month * hours) / 730;
  }
  let allowed = TIER_NAMES.map((t) => slo === null || tiers[t].read_latency_ms <= slo);
  if (!allowed.some(Boolean)) {
    const fastest = Math.min(...TIER_NAMES.map((t) => tiers[t].read_latency_ms));
    allowed = TIER_NAMES.map((t) => tiers[t].read_latency_ms === fastest);
  }
  return {
    index,
    ds,
    rules,
    slo,
    init: tierIndex(ds.current_tier),
    a0: trace.off[index]!,
    a1: trace.off[index + 1]!,
    storagePerStep,
    allowed,
  };
}

/**
 * A schedule: segment s holds tier `tier[s]` from boundary `start[s]` to the next segment's
 * start (the last one to the end of the trace). `start[0]` is 0; consecutive tiers differ,
 * except that the first may equal the initial tier (no move at boundary 0 then).
 */
export class Schedule {
  start = new Int32Array(64);
  tier = new Uint8Array(64);
  n = 0;

  clear(): this {
    this.n = 0;
    return this;
  }

  push(start: number, tier: Tier): void {
    if (this.n === this.start.length) {
      const s = new Int32Array(this.n * 2);
      s.set(this.start);
      this.start = s;
      const t = new Uint8Array(this.n * 2);
      t.set(this.tier);
      this.tier = t;
    }
    this.start[this.n] = start;
    this.tier[this.n++] = tier;
  }
}

/** Adds the contract's costs of `sched` for one dataset into `tot`. */
export function account(
  trace: Trace,
  tiers: TierTable,
  acc: Float64Array,
  ctx: DatasetCtx,
  sched: Schedule,
  tot: Totals,
): void {
  const N = trace.steps;
  if (N === 0) return; // no step, no boundary: nothing is held, moved or read
  const obj = { size_bytes: ctx.ds.size_bytes, object_count: ctx.ds.object_count };
  let prev = ctx.init;
  let since = 0;
  for (let s = 0; s < sched.n; s++) {
    const start = sched.start[s]!;
    const end = s + 1 < sched.n ? sched.start[s + 1]! : N;
    const t = sched.tier[s] as Tier;
    if (t !== prev) {
      const heldDays = ((start - since) * trace.stepMs) / DAY_MS;
      const m = moveCost(tiers[TIER_NAMES[prev]!], tiers[TIER_NAMES[t]!], obj, heldDays);
      tot.move_usd += m.total - m.early_deletion;
      tot.early_delete_usd += m.early_deletion;
      tot.moves++;
      since = start;
      prev = t;
    }
    tot.storage_usd += ctx.storagePerStep[t]! * (end - start);
  }
  // Events: the tier of the segment holding each active step.
  let s = 0;
  for (let a = ctx.a0; a < ctx.a1; a++) {
    const k = trace.step[a]!;
    while (s + 1 < sched.n && sched.start[s + 1]! <= k) s++;
    const t = sched.tier[s]!;
    tot.access_usd += acc[3 * a + t]!;
    if (ctx.slo !== null && tiers[TIER_NAMES[t]!].read_latency_ms > ctx.slo) {
      tot.slo_violations += trace.reads[a]!;
    }
  }
}
