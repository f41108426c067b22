import type { TierName } from '../types';
import type { SimDataset, SimOp } from './trace';

/**
 * Synthetic traces with the patterns operators see, deterministic from a seed. Pure: the
 * CLI writes what this yields (datasets.jsonl, events.jsonl, policies.json).
 *
 * - `hot`: read about every hour, all month;
 * - `diurnal`: business hours (09:00-18:00 UTC, Monday to Friday), quiet otherwise;
 * - `weekly`: a batch job once a week that reads the whole dataset in a few requests;
 * - `cooling`: new data, written on its first day, read at a rate that decays over days;
 * - `archive`: read once or twice a month at most, often never;
 * - `bursts`: quiet, then a few hours of reads every few days.
 *
 * Sizes are log-uniform from 1 MB to 10 TB; one dataset in ten has a 50 ms latency SLO (no
 * cold tier), one in fifty a 10 ms one (hot only), one in twenty the `interactive` policy.
 */
export const PATTERNS = ['hot', 'diurnal', 'weekly', 'cooling', 'archive', 'bursts'] as const;
export type Pattern = (typeof PATTERNS)[number];

export const DEFAULT_MIX: Record<Pattern, number> = {
  hot: 2,
  diurnal: 10,
  weekly: 15,
  cooling: 20,
  archive: 38,
  bursts: 15,
};

/** The pattern a generated dataset follows, from its name (`weekly-17`); null for other names. */
export function patternOf(name: string): Pattern | null {
  const p = name.slice(0, name.lastIndexOf('-'));
  return (PATTERNS as readonly string[]).includes(p) ? (p as Pattern) : null;
}

export interface GenerateOptions {
  seed: number;
  datasets: number;
  days: number;
  /** Relative weights of the patterns (missing ones weigh 0 when any is given). */
  mix?: Partial<Record<Pattern, number>>;
  /** Start of the trace, ms since the epoch (a Monday 00:00 UTC by default). */
  start?: number;
}

export interface GeneratedEvent {
  dataset_id: number;
  op: SimOp;
  size_bytes: number;
  client_lat_ms: number;
  ts: number;
}

/** The policies a generated trace names, in the shape of GET /policies items. */
export function generatedPolicies(now: string): Array<Record<string, unknown>> {
  return [
    {
      name: 'interactive',
      latency_slo_ms: 50,
      pinned_tier: null,
      cost_target_usd_month: null,
      min_residency_s: 3600,
      hot_max_age_s: 60,
      warm_max_age_s: 600,
      require_approval: false,
      retire_source: false,
      retire_grace_s: 0,
      retire_linked_files: false,
      auto_apply: true,
      four_eyes: false,
      approvers: [],
      created_at: now,
      updated_at: now,
    },
  ];
}

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOUR = 3_600_000;

export const DEFAULT_START = Date.UTC(2026, 10, 2); // Monday 2 November 2026

export interface GeneratedTrace {
  datasets: Array<SimDataset & { pattern: Pattern }>;
  /** Every event, in time order. */
  events(): Generator<GeneratedEvent>;
  eventCount: number;
}

export function generateTrace(opts: GenerateOptions): GeneratedTrace {
  const rnd = prng(opts.seed);
  const start = opts.start ?? DEFAULT_START;
  const hours = Math.round(opts.days * 24);
  const end = start + hours * HOUR;
  const mix = opts.mix ?? DEFAULT_MIX;
  const weights = PATTERNS.map((p) => Math.max(0, mix[p] ?? 0));
  const sum = weights.reduce((a, b) => a + b, 0);
  if (!(sum > 0)) throw new Error('the mix gives no pattern a weight');

  // Events in columns, bucketed per hour afterwards (a counting sort), then sorted in each hour.
  let n = 0;
  let ds = new Int32Array(1 << 16);
  let op = new Uint8Array(1 << 16);
  let size = new Float64Array(1 << 16);
  let ts = new Float64Array(1 << 16);
  const emit = (id: number, o: 0 | 1, s: number, t: number) => {
    if (t < start || t >= end) return;
    if (n === ds.length) {
      const grow = <T extends Int32Array | Uint8Array | Float64Array>(a: T, b: T) => {
        b.set(a);
        return b;
      };
      ds = grow(ds, new Int32Array(n * 2));
      op = grow(op, new Uint8Array(n * 2));
      size = grow(size, new Float64Array(n * 2));
      ts = grow(ts, new Float64Array(n * 2));
    }
    ds[n] = id;
    op[n] = o;
    size[n] = Math.max(1, Math.round(s));
    ts[n++] = Math.floor(t);
  };
  const logUniform = (lo: number, hi: number) => Math.exp(Math.log(lo) + rnd() * Math.log(hi / lo));
  const inHour = (h: number) => start + h * HOUR + Math.floor(rnd() * HOUR);

  const datasets: Array<SimDataset & { pattern: Pattern }> = [];
  for (let i = 1; i <= opts.datasets; i++) {
    let r = rnd() * sum;
    let pi = 0;
    while (r >= weights[pi]! && pi < PATTERNS.length - 1) r -= weights[pi++]!;
    const pattern = PATTERNS[pi]!;
    const sizeBytes = Math.round(logUniform(1e6, 1e13));
    const objects = Math.max(1, Math.round(sizeBytes / logUniform(1e6, 1e9)));
    const u = rnd();
    const slo = u < 0.02 ? 10 : u < 0.12 ? 50 : null;
    const v = rnd();
    const tier: TierName = v < 0.8 ? 'hot' : v < 0.9 ? 'warm' : 'cold';
    const policy = rnd() < 0.05 ? 'interactive' : null;
    datasets.push({
      id: i,
      name: `${pattern}-${i}`,
      size_bytes: sizeBytes,
      object_count: objects,
      latency_slo_ms: slo,
      current_tier: tier,
      policy,
      pattern,
    });
    // A typical read: up to 1% of the dataset, between 64 KB and 1 GB.
    const readSize = () =>
      Math.min(sizeBytes, logUniform(65_536, Math.max(65_537, Math.min(1e9, sizeBytes / 100))));
    switch (pattern) {
      case 'hot':
        for (let h = 0; h < hours; h++) {
          if (rnd() < 0.5) emit(i, 0, readSize(), inHour(h));
          if (rnd() < 0.02) emit(i, 1, readSize(), inHour(h));
        }
        break;
      case 'diurnal':
        for (let h = 0; h < hours; h++) {
          const t = start + h * HOUR;
          const dow = new Date(t).getUTCDay();
          const hod = new Date(t).getUTCHours();
          const busy = dow >= 1 && dow <= 5 && hod >= 9 && hod < 18;
          if (rnd() < (busy ? 0.5 : 0.01)) emit(i, 0, readSize(), inHour(h));
          if (busy && rnd() < 0.1) emit(i, 0, readSize(), inHour(h));
        }
        break;
      case 'weekly': {
        const day = Math.floor(rnd() * 7);
        const hod = Math.floor(rnd() * 24);
        const parts = 1 + Math.floor(rnd() * 5);
        for (let d = day; d < opts.days; d += 7) {
          for (let p = 0; p < parts; p++) emit(i, 0, sizeBytes / parts, inHour(d * 24 + hod));
          emit(i, 1, readSize(), inHour(d * 24 + hod));
        }
        break;
      }
      case 'cooling': {
        const born = Math.floor(rnd() * hours * 0.6);
        const tau = logUniform(6, 96); // hours
        const rate = 0.5 + rnd() * 1.5; // reads per hour at birth
        for (let w = 0; w < 3; w++) emit(i, 1, sizeBytes / 3, inHour(born));
        for (let h = born; h < hours; h++) {
          const p = rate * Math.exp(-(h - born) / tau);
          if (p < 0.002) break;
          let k = p;
          while (k > 0) {
            if (rnd() < Math.min(1, k)) emit(i, 0, readSize(), inHour(h));
            k -= 1;
          }
        }
        break;
      }
      case 'archive': {
        const reads = rnd() < 0.6 ? 0 : rnd() < 0.7 ? 1 : 2;
        for (let k = 0; k < reads; k++) emit(i, 0, readSize(), inHour(Math.floor(rnd() * hours)));
        break;
      }
      case 'bursts': {
        const every = 3 + Math.floor(rnd() * 8); // days
        const length = 2 + Math.floor(rnd() * 5); // hours
        const perHour = 1 + Math.floor(rnd() * 3);
        for (let d = Math.floor(rnd() * every); d < opts.days; d += every) {
          const h0 = d * 24 + Math.floor(rnd() * 20);
          for (let h = h0; h < h0 + length; h++) {
            for (let k = 0; k < perHour; k++) emit(i, 0, readSize(), inHour(h));
          }
        }
        break;
      }
    }
  }

  // Time order: a counting sort by hour, then each hour's few events by time (then dataset).
  const bucket = new Int32Array(hours + 1);
  for (let e = 0; e < n; e++) bucket[Math.floor((ts[e]! - start) / HOUR) + 1]!++;
  for (let h = 0; h < hours; h++) bucket[h + 1]! += bucket[h]!;
  const order = new Int32Array(n);
  const at = bucket.slice(0, hours);
  for (let e = 0; e < n; e++) order[at[Math.floor((ts[e]! - start) / HOUR)]!++] = e;
  for (let h = 0; h < hours; h++) {
    const part = Array.from(order.subarray(bucket[h], bucket[h + 1]));
    part.sort((a, b) => ts[a]! - ts[b]! || ds[a]! - ds[b]! || a - b);
    order.set(part, bucket[h]);
  }
  const count = n;
  return {
    datasets,
    eventCount: count,
    *events() {
      for (let j = 0; j < count; j++) {
        const e = order[j]!;
        yield {
          dataset_id: ds[e]!,
          op: op[e] === 0 ? 'read' : 'write',
          size_bytes: size[e]!,
          client_lat_ms: 5,
          ts: ts[e]!,
        };
      }
    },
  };
}
