import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * The metadata tables, as Kysely sees them. Timestamps are integers (milliseconds since
 * the epoch) so that SQLite and PostgreSQL (bigint) agree; the API turns them into ISO
 * 8601 strings. Booleans are 0/1 integers for the same reason. JSON columns are text.
 */
export type Tier = 'hot' | 'warm' | 'cold';

export interface DatasetsTable {
  id: Generated<number>;
  name: string;
  path_uri: string;
  current_tier: Tier;
  latency_slo_ms: number | null;
  size_bytes: number;
  object_count: number;
  owner: string | null;
  /** Name of a row in `policies`, or null for the defaults. */
  policy: string | null;
  /** Bumped by every switch of location; part of the derived job_key. */
  version: number;
  last_access_ts: number | null;
  /** When the dataset last changed tier (minimum residency counts from here). */
  tier_since: number;
  created_at: number;
  updated_at: number;
  /**
   * Canonical key of path_uri (storage/location-key.ts), UNIQUE: no two datasets overlap
   * (invariant 9). Set by the API and the switch; null only on rows written around them.
   */
  location_key: string | null;
}

export interface PoliciesTable {
  name: string;
  latency_slo_ms: number | null;
  pinned_tier: Tier | null;
  /** Upper bound of the monthly cost the owner wants for a dataset, in USD. */
  cost_target_usd_month: number | null;
  min_residency_s: number;
  hot_max_age_s: number;
  warm_max_age_s: number;
  require_approval: number;
  retire_source: number;
  retire_grace_s: number;
  auto_apply: number;
  /** 1: the approver of a migration must not be the caller who planned it. */
  four_eyes: number;
  /** JSON array of caller names allowed to approve; [] = any caller with the operator role. */
  approvers: string;
  /** 1: retire may unlink a source file that has other hard links (default 0: kept). */
  retire_linked_files: Generated<number>;
  /** Migrations one placement sweep may start for datasets of this policy (auto_apply). */
  max_moves_per_sweep: Generated<number>;
  /** Bytes the sweep may start moving for this policy's datasets in any 24 hours; null: no cap. */
  max_bytes_per_day: number | null;
  /** Default bandwidth limit of this policy's migrations, bytes per second; null: none (migration 013). */
  max_bytes_per_s: Generated<number | null>;
  created_at: number;
  updated_at: number;
}

export interface TiersTable {
  name: Tier;
  /** e.g. file:///srv/hot/{name}, s3://dim-warm/{name}, gs://dim-cold/{name} */
  location_template: string;
  storage_class: string;
  read_latency_ms: number;
  price_gb_month: number;
  price_retrieval_gb: number;
  price_per_1k_requests: number;
  min_storage_days: number;
  egress_gb: number;
  updated_at: number;
}

export interface AccessCounters {
  read_count: number;
  write_count: number;
  bytes_read: number;
  bytes_written: number;
  lat_sum_ms: number;
  lat_count: number;
}

export interface AccessTotalsTable extends AccessCounters {
  dataset_id: number;
  last_access_ts: number | null;
}

export interface AccessAggregatesTable extends AccessCounters {
  dataset_id: number;
  /** Start of the hour, ms since the epoch. */
  hour: number;
}

export interface RecommendationsTable {
  id: Generated<number>;
  dataset_id: number;
  current_tier: Tier;
  recommended_tier: Tier;
  target_location: string;
  storage_class: string;
  reason: string;
  /** JSON: the signals and policy the decision used. */
  inputs: string;
  model_version: string;
  created_at: number;
}

/** Each dataset's standing (latest) recommendation and the advice it gives. */
export interface RecommendationHeadsTable {
  dataset_id: number;
  recommendation_id: number;
  current_tier: Tier;
  recommended_tier: Tier;
  target_location: string;
  storage_class: string;
  model_version: string;
  /** Digest of the inputs the advice was last computed from (store/recommendations.ts). */
  inputs_key: string | null;
}

/** A named lease: one holder at a time until it expires (store/leases.ts). */
export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: number;
}

export interface ConsumerOffsetsTable {
  consumer: string;
  topic: string;
  partition: number;
  /** The next offset to read (Kafka offsets are int64: kept as text). */
  next_offset: string;
  updated_at: number;
}

/** The durable local log: events and status messages when no Kafka is configured. */
export interface EventLogTable {
  seq: Generated<number>;
  topic: string;
  key: string;
  value: string;
  ts: number;
}

/** Events accepted while Kafka was unreachable, relayed when it returns. */
export interface EventOutboxTable {
  seq: Generated<number>;
  topic: string;
  key: string;
  value: string;
  ts: number;
  /** "<source>:<n>", the message's id (see events/README.md): a re-sent copy counts once. */
  msg_id: string | null;
  /** The partition it was numbered for (null: not known when it was buffered). */
  partition: number | null;
}

/** Per (consumer, topic, partition, source): the highest message number applied. */
export interface SourceMarksTable {
  consumer: string;
  topic: string;
  partition: number;
  source: string;
  last_n: number;
  updated_at: number;
}

export interface DeadLettersTable {
  id: Generated<number>;
  source: string;
  topic: string;
  partition: number | null;
  offset: string | null;
  payload: string;
  error: string;
  ts: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  ts: number;
  actor: string;
  action: string;
  target: string;
  details: string;
}

/** A trained usage model (store/models.ts, placement/forecast.ts). */
export interface ModelsTable {
  id: Generated<number>;
  version: string;
  /** The model family, e.g. `seasonal-decay-v1`. */
  kind: string;
  created_at: number;
  /** The training window [window_from, window_to), ms; the holdout is [holdout_from, window_to). */
  window_from: number;
  window_to: number;
  holdout_from: number;
  /** JSON: ForecastParams. */
  params: string;
  /** JSON: Accuracy (the model's and the naive forecast's). */
  accuracy: string;
  datasets: number;
  buckets: number;
  train_ms: number;
}

/** One dataset's forecast from one model, as of the model's window_to. */
export interface ModelForecastsTable {
  model_id: number;
  dataset_id: number;
  reads_per_hour: number;
  read_bytes_per_hour: number;
  writes_per_hour: number;
  p_access: number;
}

/** Values every dim process of the install shares (store/settings.ts). */
export interface InstallSettingsTable {
  name: string;
  value: string;
  updated_at: number;
}

/**
 * One row per (caller, key): the caller is the API key's name, `anonymous` in open mode.
 * method and path say which endpoint the key was first used on (another is a 422).
 */
export interface IdempotencyKeysTable {
  caller: string;
  key: string;
  method: string;
  path: string;
  request_hash: string;
  /** null while the first request with this key is still running. */
  status: number | null;
  body: string | null;
  /** When the request that owns the row claimed it (expiry and pruning count from here). */
  created_at: number;
  /**
   * When the request first claimed the key: kept when a crashed claim is taken over (the
   * same request, retried), new when an expired key is claimed again (a new request).
   */
  origin_ts: number | null;
}

/** Sources (idempotent requests) whose events the local log holds: a retry appends nothing. */
export interface AppendedRequestsTable {
  source: string;
  created_at: number;
}

export type JobStatus =
  | 'queued'
  | 'awaiting_approval'
  | 'copying'
  | 'verifying'
  | 'switching'
  | 'retiring'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'enqueue_failed';

export interface MigrationJobsTable {
  job_id: string;
  job_key: string;
  dataset_id: number;
  source_uri: string;
  dest_uri: string;
  dest_storage_class: string;
  target_tier: Tier | null;
  status: JobStatus;
  error: string | null;
  bytes_done: number;
  bytes_total: number;
  objects_done: number;
  objects_total: number;
  workflow_id: string;
  run_id: string | null;
  recommendation_id: number | null;
  requested_by: string;
  require_approval: number;
  retire_source: number;
  /** Seconds between the switch and the deletion of the source. */
  retire_grace_s: Generated<number>;
  /** The approval rules of the policy when the job was planned (see PoliciesTable). */
  four_eyes: Generated<number>;
  approvers: Generated<string>;
  /** 1: retire may unlink a source file that has other hard links (the policy's, when planned). */
  retire_linked_files: Generated<number>;
  /** Who approved, cancelled and retired the job, as the workflow recorded it. */
  approved_by: string | null;
  cancelled_by: string | null;
  retired_by: string | null;
  /** file:// sources: the root's real path when the copy listed it (retire checks it). */
  source_real_path: Generated<string | null>;
  submitted_at: number;
  updated_at: number;
  /** Location keys of the source and destination: the job owns both until it ends (invariant 9). */
  source_key: string | null;
  dest_key: string | null;
  /** The job's bandwidth limit, bytes per second (plan, else policy; changed by a signal); null: none. */
  max_bytes_per_s: Generated<number | null>;
  /** The copy's current rate, bytes per second over the last few seconds; null when not copying. */
  bytes_per_s: Generated<number | null>;
}

/** The per-object manifest of a migration: what was copied and verified, with checksums. */
export interface MigrationObjectsTable {
  job_id: string;
  key: string;
  size: number;
  sha256: string | null;
  /** copied | verified */
  state: string;
  /** The source object's identity as the copy listed it (JSON, storage/identity.ts). */
  source_identity: Generated<string | null>;
  /** The algorithm of `sha256` (the content hash): sha256 | blake3; null: sha256 (migration 012). */
  hash_algorithm: Generated<string | null>;
  updated_at: number;
}

export interface ReplicasTable {
  id: Generated<number>;
  dataset_id: number;
  uri: string;
  storage_class: string;
  tier: Tier | null;
  /** primary | retired | stale */
  role: string;
  job_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface Database {
  datasets: DatasetsTable;
  policies: PoliciesTable;
  tiers: TiersTable;
  access_totals: AccessTotalsTable;
  access_aggregates: AccessAggregatesTable;
  recommendations: RecommendationsTable;
  recommendation_heads: RecommendationHeadsTable;
  leases: LeasesTable;
  consumer_offsets: ConsumerOffsetsTable;
  event_log: EventLogTable;
  event_outbox: EventOutboxTable;
  source_marks: SourceMarksTable;
  dead_letters: DeadLettersTable;
  audit_log: AuditLogTable;
  idempotency_keys: IdempotencyKeysTable;
  appended_requests: AppendedRequestsTable;
  install_settings: InstallSettingsTable;
  migration_jobs: MigrationJobsTable;
  migration_objects: MigrationObjectsTable;
  replicas: ReplicasTable;
  models: ModelsTable;
  model_forecasts: ModelForecastsTable;
}

export type Dataset = Selectable<DatasetsTable>;
export type NewDataset = Insertable<DatasetsTable>;
export type DatasetUpdate = Updateable<DatasetsTable>;
export type Policy = Selectable<PoliciesTable>;
export type TierRow = Selectable<TiersTable>;
export type Recommendation = Selectable<RecommendationsTable>;
export type MigrationJob = Selectable<MigrationJobsTable>;
