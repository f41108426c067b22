/** The dashboard's client of the dim REST API: the key kept for this tab, and errors as text. */
export type Role = 'viewer' | 'operator' | 'admin';
export type Tier = 'hot' | 'warm' | 'cold';

const KEY = 'dim.api_key';

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  setKey(k: string): void {
    sessionStorage.setItem(KEY, k);
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
  },
};

/** An answer other than 2xx, with the problem+json detail the API gave. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }

  /** What an operator reads: what the status means here, and the API's reason. */
  explain(): string {
    if (this.status === 401)
      return `Not signed in: ${this.detail}. Sign in with an API key (from DIM_API_KEYS).`;
    if (this.status === 403) return `Not allowed: ${this.detail}.`;
    if (this.status === 0) return `The API cannot be reached: ${this.detail}.`;
    return `${this.detail} (HTTP ${this.status}).`;
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = session.key();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, (err as Error).message);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const p = parsed as { detail?: string; title?: string } | undefined;
    throw new ApiError(res.status, p?.detail ?? p?.title ?? res.statusText);
  }
  return parsed as T;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Overview {
  caller: { name: string; role: Role };
  open: boolean;
  temporal_ui_url: string | null;
  tiers: { tier: Tier; datasets: number; bytes: number }[];
  cost: {
    monthly_now_usd: number;
    monthly_recommended_usd: number;
    saving_usd_month: number;
    datasets_to_move: number;
  } | null;
  jobs: { running: number; awaiting_approval: number; failed_last_day: number };
  ingest: { events_per_s: number; events: number; window_s: number };
}

export interface Dataset {
  id: number;
  name: string;
  path_uri: string;
  current_tier: Tier;
  latency_slo_ms: number | null;
  size_bytes: number;
  object_count: number;
  owner: string | null;
  policy: string | null;
  version: number;
  last_access_ts: string | null;
  created_at: string;
  usage: { read_count: number; write_count: number; bytes_read: number };
}

export interface Bucket {
  hour: string;
  read_count: number;
  write_count: number;
  bytes_read: number;
  bytes_written: number;
  mean_client_lat_ms: number | null;
}

export interface Recommendation {
  /** null: advice computed on demand, not stored yet (plan it with POST /plan-migration). */
  id: number | null;
  dataset_id: number;
  current_tier: Tier;
  recommended_tier: Tier;
  action: 'move' | 'stay';
  target_location: string;
  storage_class: string;
  reason: string;
  inputs: { cost_usd_month?: Partial<Record<Tier, number>> } & Record<string, unknown>;
  created_at: string;
}

export interface DryRun {
  dry_run: true;
  ok: boolean;
  dataset_id: number;
  source_uri: string;
  target_location: string;
  storage_class: string;
  target_tier: Tier | null;
  existing_job_id: string | null;
  objects: number;
  bytes: number;
  cost: {
    from: Tier;
    to: Tier;
    monthly_before_usd: number;
    monthly_after_usd: number;
    saving_usd_month: number;
    move_usd: number;
    payback_days: number | null;
    horizon_days: number;
    pays_back: boolean;
  } | null;
  safety: { require_approval: boolean; retire_source: boolean } | null;
  checks: { name: string; ok: boolean; detail: string }[];
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

export interface Job {
  job_id: string;
  job_key: string;
  dataset_id: number;
  source_uri: string;
  dest_uri: string;
  dest_storage_class: string;
  target_tier: Tier | null;
  status: JobStatus;
  error: string | null;
  submitted_at: string;
  updated_at: string;
  requested_by: string;
  require_approval: boolean;
  four_eyes: boolean;
  approvers: string[];
  approved_by: string | null;
  cancelled_by: string | null;
  progress: {
    bytes_done: number;
    bytes_total: number;
    objects_done: number;
    objects_total: number;
    percent: number | null;
  };
  temporal_ui_url: string | null;
}

export interface Replica {
  id: number;
  uri: string;
  storage_class: string;
  tier: Tier | null;
  role: string;
  job_id: string | null;
  updated_at: string;
}

export interface Health {
  status: string;
  errors?: Record<string, string>;
  [dependency: string]: unknown;
}

/** /health answers 503 with the same body when a dependency is down. */
export async function health(): Promise<Health> {
  const res = await fetch('/health');
  return (await res.json()) as Health;
}
