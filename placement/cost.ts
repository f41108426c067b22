import type { DatasetSignals, TierName, TierSpec, TierTable } from './types';

/**
 * The cost model, the one formula every placement decision (and the simulator) uses: what
 * keeping a dataset in a tier costs per month, and what moving it once costs. Units: USD,
 * GB = 10^9 bytes, a month = 730 hours (as cloud price lists count).
 *
 * Monthly, in a tier:
 * - storage   = size/GB × price_gb_month
 * - retrieval = GB read per month × price_retrieval_gb
 * - requests  = (reads + writes per month) / 1000 × price_per_1k_requests
 * - egress    = GB read per month × egress_gb (clients are assumed outside the tier's network)
 *
 * Once, to move from tier a to tier b:
 * - retrieval + egress out of a: size/GB × (price_retrieval_gb(a) + egress_gb(a))
 * - write requests into b: object_count / 1000 × price_per_1k_requests(b)
 * - early deletion: when the dataset held a for less than min_storage_days(a), a bills the
 *   remaining days anyway: size/GB × price_gb_month(a) × remaining days / month.
 *
 * A move pays back when its monthly saving, over BREAK_EVEN_HORIZON_DAYS, is at least the
 * move's cost.
 */
export const GB = 1e9;
export const DAY_MS = 86_400_000;
/** Days in a billing month (730 hours). */
export const MONTH_DAYS = 730 / 24;
/** Shorter histories are stretched to a day, so a burst in a new dataset does not extrapolate wildly. */
export const MIN_OBSERVED_DAYS = 1;
/** A move must pay for itself within this many days of its saving. */
export const BREAK_EVEN_HORIZON_DAYS = 30;

export interface MonthlyUsage {
  size_bytes: number;
  reads_per_month: number;
  writes_per_month: number;
  bytes_read_per_month: number;
}

export interface CostBreakdown {
  storage: number;
  retrieval: number;
  requests: number;
  egress: number;
  /** storage + retrieval + requests + egress, USD per month. */
  total: number;
}

export interface MoveCost {
  /** Retrieval fee of reading the dataset out of the source tier. */
  retrieval: number;
  /** Egress of the dataset out of the source tier's network. */
  egress: number;
  /** Write requests into the destination tier, one per object. */
  requests: number;
  /** The source tier's minimum storage charge for the days not yet held. */
  early_deletion: number;
  /** Days of the source tier's minimum storage still to run (0 when none). */
  early_deletion_days: number;
  total: number;
}

export interface BreakEven {
  /** Monthly cost now minus monthly cost after the move (negative: the move costs more). */
  saving_usd_month: number;
  move_usd: number;
  /** Days until the saving has paid the move; null when it never does (no saving). */
  payback_days: number | null;
  horizon_days: number;
  /** The saving over the horizon covers the move. */
  pays_back: boolean;
}

/** Monthly rates from lifetime totals observed since `since` (ms), as of `now` (ms). */
export function monthlyUsage(
  totals: { size_bytes: number; read_count: number; write_count: number; bytes_read: number },
  since: number,
  now: number,
): MonthlyUsage & { observed_days: number } {
  const observedDays = Math.max(MIN_OBSERVED_DAYS, (now - since) / DAY_MS);
  const perMonth = MONTH_DAYS / observedDays;
  return {
    observed_days: observedDays,
    size_bytes: totals.size_bytes,
    reads_per_month: totals.read_count * perMonth,
    writes_per_month: totals.write_count * perMonth,
    bytes_read_per_month: totals.bytes_read * perMonth,
  };
}

/**
 * Monthly rates from a model's forecast (placement/forecast.ts): per hour × 730.
 * `observed_days` is the history the totals cover, as monthlyUsage counts it (for the inputs).
 */
export function forecastUsage(
  ds: { size_bytes: number },
  f: { reads_per_hour: number; writes_per_hour: number; read_bytes_per_hour: number },
  since: number,
  now: number,
): MonthlyUsage & { observed_days: number } {
  const hours = MONTH_DAYS * 24;
  return {
    observed_days: Math.max(MIN_OBSERVED_DAYS, (now - since) / DAY_MS),
    size_bytes: ds.size_bytes,
    reads_per_month: f.reads_per_hour * hours,
    writes_per_month: f.writes_per_hour * hours,
    bytes_read_per_month: f.read_bytes_per_hour * hours,
  };
}

export function monthlyCost(tier: TierSpec, usage: MonthlyUsage): CostBreakdown {
  const sizeGb = usage.size_bytes / GB;
  const readGb = usage.bytes_read_per_month / GB;
  const storage = sizeGb * tier.price_gb_month;
  const retrieval = readGb * tier.price_retrieval_gb;
  const requests =
    ((usage.reads_per_month + usage.writes_per_month) / 1000) * tier.price_per_1k_requests;
  const egress = readGb * tier.egress_gb;
  return { storage, retrieval, requests, egress, total: storage + retrieval + requests + egress };
}

/**
 * The one-off cost of moving a dataset of `size_bytes` in `object_count` objects from `from`
 * to `to`, having held `from` for `heldDays`.
 */
export function moveCost(
  from: TierSpec,
  to: TierSpec,
  ds: { size_bytes: number; object_count: number },
  heldDays: number,
): MoveCost {
  const sizeGb = ds.size_bytes / GB;
  const retrieval = sizeGb * from.price_retrieval_gb;
  const egress = sizeGb * from.egress_gb;
  const requests = (ds.object_count / 1000) * to.price_per_1k_requests;
  const remaining = Math.max(0, from.min_storage_days - Math.max(0, heldDays));
  const earlyDeletion = (sizeGb * from.price_gb_month * remaining) / MONTH_DAYS;
  return {
    retrieval,
    egress,
    requests,
    early_deletion: earlyDeletion,
    early_deletion_days: remaining,
    total: retrieval + egress + requests + earlyDeletion,
  };
}

/** Whether saving `before - after` USD a month pays back a move costing `move` USD. */
export function breakEven(
  beforeUsdMonth: number,
  afterUsdMonth: number,
  move: number,
  horizonDays = BREAK_EVEN_HORIZON_DAYS,
): BreakEven {
  const saving = beforeUsdMonth - afterUsdMonth;
  const perDay = saving / MONTH_DAYS;
  const paybackDays = saving > 0 ? Math.max(0, move) / perDay : null;
  return {
    saving_usd_month: saving,
    move_usd: move,
    payback_days: paybackDays,
    horizon_days: horizonDays,
    pays_back: saving > 0 && move <= perDay * horizonDays,
  };
}

/** The dataset's size and object count as a move counts them (an unknown count is 1). */
export const objectsOf = (ds: { size_bytes: number; object_count?: number }) => ({
  size_bytes: ds.size_bytes,
  object_count: ds.object_count ?? 1,
});

/** The economics of moving one dataset to tier `to`: cost a month before and after, the move, its break-even. */
export interface PlanCost extends BreakEven {
  from: TierName;
  to: TierName;
  monthly_before_usd: number;
  monthly_after_usd: number;
  move: MoveCost;
}

export function planCost(
  ds: DatasetSignals,
  tiers: TierTable,
  to: TierName,
  now: number,
  horizonDays = BREAK_EVEN_HORIZON_DAYS,
  /** A trained model's forecast for the dataset: the usage then comes from it, as in decide. */
  forecast?: {
    reads_per_hour: number;
    writes_per_hour: number;
    read_bytes_per_hour: number;
  } | null,
): PlanCost {
  const usage = forecast
    ? forecastUsage(ds, forecast, ds.created_at, now)
    : monthlyUsage(ds, ds.created_at, now);
  const from = ds.current_tier;
  const before = monthlyCost(tiers[from], usage).total;
  const after = monthlyCost(tiers[to], usage).total;
  const heldDays = Math.max(0, now - ds.tier_since) / DAY_MS;
  const move = moveCost(tiers[from], tiers[to], objectsOf(ds), heldDays);
  return {
    from,
    to,
    monthly_before_usd: before,
    monthly_after_usd: after,
    move,
    ...breakEven(before, after, move.total, horizonDays),
  };
}

/** `$12.34`, `$0.0042`, `$0`: readable in a reason sentence. */
export function usd(v: number): string {
  if (v === 0) return '$0';
  if (Math.abs(v) >= 1) return `$${v.toFixed(2)}`;
  return `$${Number(v.toPrecision(2))}`;
}

/** `under a day`, `2.5 days`, `8 days`: payback times in reason sentences. */
export function days(d: number): string {
  if (d < 1) return 'under a day';
  if (d < 10) return `${Math.round(d * 10) / 10} days`;
  return `${Math.round(d)} days`;
}
