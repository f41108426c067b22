import type { TierSpec } from './types';

/**
 * The cost model: what keeping a dataset in a tier costs per month, from its size, its
 * observed traffic and the tier's prices. GB here is 2^30 bytes, as cloud bills count.
 *
 * - storage    = size × price_gb_month
 * - retrieval  = GB read per month × price_retrieval_gb
 * - requests   = (reads + writes per month) / 1000 × price_per_1k_requests
 * - egress     = GB read per month × egress_gb (clients are assumed outside the tier's network)
 * - commitment = size × price_gb_month × min_storage_days / 30: the least a move into the
 *   tier costs, since the tier bills that many days even if the data leaves sooner.
 */
export const GB = 2 ** 30;
const DAY_MS = 86_400_000;
/** Shorter histories are stretched to a day, so a burst in a new dataset does not extrapolate wildly. */
export const MIN_OBSERVED_DAYS = 1;

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
  /** Minimum charge of a move into this tier (min_storage_days), USD. */
  commitment: number;
}

/** Monthly rates from lifetime totals observed since `since` (ms), as of `now` (ms). */
export function monthlyUsage(
  totals: { size_bytes: number; read_count: number; write_count: number; bytes_read: number },
  since: number,
  now: number,
): MonthlyUsage & { observed_days: number } {
  const observedDays = Math.max(MIN_OBSERVED_DAYS, (now - since) / DAY_MS);
  const perMonth = 30 / observedDays;
  return {
    observed_days: observedDays,
    size_bytes: totals.size_bytes,
    reads_per_month: totals.read_count * perMonth,
    writes_per_month: totals.write_count * perMonth,
    bytes_read_per_month: totals.bytes_read * perMonth,
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
  return {
    storage,
    retrieval,
    requests,
    egress,
    total: storage + retrieval + requests + egress,
    commitment: (sizeGb * tier.price_gb_month * tier.min_storage_days) / 30,
  };
}

/** `$12.34`, `$0.0042`, `$0`: readable in a reason sentence. */
export function usd(v: number): string {
  if (v === 0) return '$0';
  if (Math.abs(v) >= 1) return `$${v.toFixed(2)}`;
  return `$${Number(v.toPrecision(2))}`;
}
