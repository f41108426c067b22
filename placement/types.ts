/**
 * The vocabulary of placement decisions. Plain data only: everything here is computed
 * from values the caller passes in, so it can be tested and simulated without a server.
 */
export type TierName = 'hot' | 'warm' | 'cold';
export const TIER_NAMES: readonly TierName[] = ['hot', 'warm', 'cold'];

/** One row of the tier table: where a tier lives and what it costs. */
export interface TierSpec {
  name: TierName;
  /** A storage URI with `{name}` (dataset name) and/or `{id}` (dataset id) placeholders. */
  location_template: string;
  storage_class: string;
  /** Expected read latency of the tier, in milliseconds. */
  read_latency_ms: number;
  /** USD per GB stored per month. */
  price_gb_month: number;
  /** USD per GB read back (retrieval fee of infrequent-access and archive classes). */
  price_retrieval_gb: number;
  /** USD per 1,000 requests (reads and writes). */
  price_per_1k_requests: number;
  /** Days an object is billed for at least, even when deleted or moved earlier. */
  min_storage_days: number;
  /** USD per GB leaving the tier's network (reads by clients, and moving out). */
  egress_gb: number;
}

export type TierTable = Record<TierName, TierSpec>;

/** The policy values a decision uses. Datasets without a policy get DEFAULT_RULES. */
export interface PlacementRules {
  /** The policy's name, or null for the built-in defaults. */
  name: string | null;
  latency_slo_ms: number | null;
  pinned_tier: TierName | null;
  cost_target_usd_month: number | null;
  min_residency_s: number;
  hot_max_age_s: number;
  warm_max_age_s: number;
}

/**
 * The defaults for a dataset without a policy (and without a policy named `default`):
 * the prototype's recency rule alone, no residency hold.
 */
export const DEFAULT_RULES: PlacementRules = {
  name: null,
  latency_slo_ms: null,
  pinned_tier: null,
  cost_target_usd_month: null,
  min_residency_s: 0,
  hot_max_age_s: 60,
  warm_max_age_s: 600,
};

/** What is known about one dataset when deciding. Times are ms since the epoch. */
export interface DatasetSignals {
  id: number;
  name: string;
  path_uri: string;
  current_tier: TierName;
  size_bytes: number;
  /** Objects in the dataset (write requests of a move); 1 when not given. */
  object_count?: number;
  /** The dataset's own latency SLO; the stricter of it and the policy's applies. */
  latency_slo_ms: number | null;
  /** When the dataset entered its current tier (minimum residency counts from here). */
  tier_since: number;
  /** When dim started watching it: the window usage rates are computed over. */
  created_at: number;
  last_access_ts: number | null;
  read_count: number;
  write_count: number;
  bytes_read: number;
  bytes_written: number;
}

export const MODEL_VERSION = 'heuristic-v1';

/** One rule that changed (or, for recency, set) the decision, and the tier it left. */
export interface Step {
  rule:
    | 'forecast'
    | 'recency'
    | 'pinned'
    | 'latency_slo'
    | 'cost_target'
    | 'min_residency'
    | 'break_even';
  tier: TierName;
}

export interface Decision {
  recommended_tier: TierName;
  /** `move` when the recommended tier differs from the current one, else `stay`. */
  action: 'move' | 'stay';
  /** The concrete destination: the tier's template resolved, or the current URI on `stay`. */
  target_location: string;
  storage_class: string;
  /** One human sentence (or a few) saying why. */
  reason: string;
  /** The signals and policy values used, and each rule's effect. JSON-serializable. */
  inputs: DecisionInputs;
  model_version: string;
}

export interface DecisionInputs {
  /** Seconds since the last access; null when never accessed. */
  last_access_age_s: number | null;
  /** Seconds in the current tier. */
  tier_held_s: number;
  size_bytes: number;
  read_count: number;
  write_count: number;
  bytes_read: number;
  bytes_written: number;
  /** Days of history the monthly rates are computed from (at least 1). */
  observed_days: number;
  reads_per_month: number;
  /**
   * The trained model's forecast the usage came from (rounded); null when the heuristic
   * decided (no trained model, or none for this dataset).
   */
  forecast?: {
    model_version: string;
    reads_per_hour: number;
    read_bytes_per_hour: number;
    writes_per_hour: number;
    p_access: number;
    horizon_hours: number;
  } | null;
  /** The policy's name; null for the built-in defaults. */
  policy: string | null;
  hot_max_age_s: number;
  warm_max_age_s: number;
  min_residency_s: number;
  pinned_tier: TierName | null;
  cost_target_usd_month: number | null;
  /** The SLO applied: the stricter of the dataset's and the policy's. */
  latency_slo_ms: number | null;
  /** Projected monthly cost in each tier (cost model), USD. */
  cost_usd_month: Record<TierName, number>;
  /**
   * The break-even test of the move the rules proposed (null when they proposed none): the
   * monthly saving, the move's one-off cost, the days it takes to pay back (null: never) and
   * the horizon it must pay back within.
   */
  break_even: {
    to: TierName;
    saving_usd_month: number;
    move_usd: number;
    payback_days: number | null;
    horizon_days: number;
    pays_back: boolean;
  } | null;
  /** The rules that acted, in order, and the tier each left. */
  steps: Step[];
}
