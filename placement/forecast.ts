/**
 * The usage model: a per-dataset forecast of reads, bytes read and writes per hour, with
 * daily and weekly seasonality and recency decay, and the probability of any access
 * within a horizon. Pure (no I/O, no clock): a **streaming fold over hourly buckets**.
 *
 * How to use it (training, the recommendation pass and the simulator all do this):
 *
 * ```ts
 * const s = newUsageState(windowStartMs);          // one state per dataset
 * for (const b of bucketsInTimeOrder) observe(s, b); // b.hour = start of the hour, ms
 * const f = forecast(s, nowMs, 168, model);        // expected usage over the next 168 h
 * ```
 *
 * - Hours are UTC hours since the epoch; `bucket.hour` is the start of the hour in ms
 *   (as `access_aggregates.hour` and `hourOf` store it). A state has a `start` hour and an
 *   `end` hour: every hour in [start, end) counts as observed, and an hour without a
 *   bucket counts as an hour with no access. So feed only the buckets that exist (the
 *   sparse rows of `access_aggregates`), in time order; `forecast(s, now)` treats the
 *   hours from the last bucket up to `now` as quiet too. A simulator that replays a trace
 *   folds each step's buckets as time advances and forecasts at each boundary: the state
 *   then only knows the past. (A bucket older than `end` is still added, with its decayed
 *   weight, so a late or split bucket is not lost.)
 * - `observe` mutates the state in place (and returns it): 100,000 states are folded per
 *   training, so no copies. States are plain JSON-serializable data.
 * - The model's hyperparameters (`ForecastParams`) are fixed per model and stored with
 *   it; `DEFAULT_FORECAST_PARAMS` are the defaults `POST /train` uses.
 *
 * What is learned, per dataset:
 * - **Level** (recency decay): exponentially decayed sums of reads, bytes read, writes and
 *   active hours (hours with any access), each over the decayed number of hours observed,
 *   with half-life `level_half_life_h`. A dataset that goes quiet sees its rates halve
 *   every half-life.
 * - **Seasonality**: decayed reads by hour of day (24) and by day of the week (7), with
 *   the longer half-life `profile_half_life_h`, each over its decayed hours observed and
 *   divided by the overall mean, shrunk towards 1 by `season_prior` pseudo-hours. An hour's
 *   expected reads are level × f_hod × f_dow / mean(f_hod) / mean(f_dow) (the mean of the
 *   product over a week is the product of the means: a week holds each pair once).
 * - **p_access**: hours are taken as independent, each active with probability
 *   min(1, active-hour rate × that hour's seasonal factor); p = 1 − Π(1 − q).
 * - **One period of evidence**: `forecast` over H hours divides the level by at least the
 *   decayed exposure of min(H, PERIOD_HOURS) hours: a younger history counts as that long,
 *   quiet where unobserved, so one weekly read in a day's history is not a daily rate.
 *   (`hourlyReads`, the accuracy check's hourly forecast, is not floored.)
 *
 * Accuracy (`scoreHoldout`, `accuracyOf`): fold the training part, forecast every hour of
 * the held-out later window from the end of the training part (no updates inside the
 * holdout), and compare with the naive last-value forecast (the reads of the last training
 * hour, 0 when it had no bucket, repeated). The metric is the WAPE of hourly reads,
 * Σ|forecast − actual| / Σ actual over all datasets and holdout hours; the MAE per
 * dataset-hour is kept too.
 */

export const HOUR_MS = 3_600_000;

/** What the decision (placement/decide.ts) takes from a model for one dataset. */
export interface UsageForecast {
  /** The model's version; `heuristic-v1` is never used here. */
  model_version: string;
  /** Expected reads per hour over the horizon. */
  reads_per_hour: number;
  /** Expected bytes read per hour over the horizon. */
  read_bytes_per_hour: number;
  /** Expected writes per hour over the horizon. */
  writes_per_hour: number;
  /** Probability of at least one access (read or write) within the horizon. */
  p_access: number;
  horizon_hours: number;
}

/** One hour of one dataset's usage, as `access_aggregates` holds it. */
export interface HourlyBucket {
  /** Start of the hour, ms since the epoch (a multiple of HOUR_MS). */
  hour: number;
  read_count: number;
  write_count: number;
  bytes_read: number;
}

export interface ForecastParams {
  /** Half-life, in hours, of the level: the rates and the active-hour rate. */
  level_half_life_h: number;
  /** Half-life, in hours, of the hour-of-day and day-of-week profiles. */
  profile_half_life_h: number;
  /** Pseudo-hours at the mean that shrink each seasonal factor towards 1. */
  season_prior: number;
  /** The horizon, in hours, of the forecasts a trained model stores for the decisions. */
  horizon_hours: number;
}

export const DEFAULT_FORECAST_PARAMS: ForecastParams = {
  level_half_life_h: 168,
  profile_half_life_h: 672,
  season_prior: 4,
  horizon_hours: 168,
};

/** A model as `forecast` needs it: its version (named in each forecast) and its parameters. */
export interface ForecastModel {
  version: string;
  params: ForecastParams;
}

/** One dataset's folded history. Plain data (JSON-serializable). Field names are short on purpose: 100,000 of these. */
export interface UsageState {
  /** First hour observed (hours since the epoch). */
  start: number;
  /** Hours in [start, end) are observed; the sums below are decayed as of `end`. */
  end: number;
  /** Level sums (half-life level_half_life_h): reads, bytes read, writes, active hours. */
  r: number;
  b: number;
  w: number;
  a: number;
  /** Profile sums (half-life profile_half_life_h): all reads, reads by hour of day, by day of week. */
  pr: number;
  hod: number[];
  dow: number[];
  /** The last bucket with any access: its hour (hours since the epoch, -1: none) and reads. */
  last: number;
  last_reads: number;
}

/** A new, empty state whose observation starts at the hour holding `startMs`. */
export function newUsageState(startMs: number): UsageState {
  const h = Math.floor(startMs / HOUR_MS);
  return {
    start: h,
    end: h,
    r: 0,
    b: 0,
    w: 0,
    a: 0,
    pr: 0,
    hod: new Array<number>(24).fill(0),
    dow: new Array<number>(7).fill(0),
    last: -1,
    last_reads: 0,
  };
}

/** The per-hour decay factor of a half-life. */
const ratio = (halfLifeH: number) => Math.pow(0.5, 1 / halfLifeH);

/** The per-hour factors of the last params seen (a fold calls with the same object 10^7 times). */
let factorsOf: { p: ForecastParams; rl: number; rp: number } | undefined;
function factors(p: ForecastParams): { rl: number; rp: number } {
  if (factorsOf?.p !== p) {
    factorsOf = { p, rl: ratio(p.level_half_life_h), rp: ratio(p.profile_half_life_h) };
  }
  return factorsOf;
}
const mod = (a: number, n: number) => ((a % n) + n) % n;
const dayOfWeek = (hour: number) => mod(Math.floor(hour / 24), 7);

/**
 * Adds one hour's bucket to the state (in place; returns it). Buckets must come in time
 * order per dataset for the sums to be exact; an older one is added with its decayed
 * weight. A bucket before the state's start moves nothing but the start back.
 */
export function observe(
  s: UsageState,
  bucket: HourlyBucket,
  params: ForecastParams = DEFAULT_FORECAST_PARAMS,
): UsageState {
  const h = Math.floor(bucket.hour / HOUR_MS);
  if (h < s.start) s.start = h;
  let wl = 1;
  let wp = 1;
  if (h >= s.end) {
    decayTo(s, h + 1, params);
  } else {
    const { rl, rp } = factors(params);
    wl = Math.pow(rl, s.end - 1 - h);
    wp = Math.pow(rp, s.end - 1 - h);
  }
  const reads = bucket.read_count;
  const any = reads + bucket.write_count > 0;
  s.r += wl * reads;
  s.b += wl * bucket.bytes_read;
  s.w += wl * bucket.write_count;
  if (any) s.a += wl;
  s.pr += wp * reads;
  s.hod[mod(h, 24)]! += wp * reads;
  s.dow[dayOfWeek(h)]! += wp * reads;
  if (any && h >= s.last) {
    s.last_reads = h === s.last ? s.last_reads + reads : reads;
    s.last = h;
  }
  return s;
}

/** Marks the hours up to `endHour` (exclusive) observed, decaying the sums (in place). */
function decayTo(s: UsageState, endHour: number, params: ForecastParams): void {
  const dt = endHour - s.end;
  if (dt <= 0) return;
  const { rl, rp } = factors(params);
  const fl = dt === 1 ? rl : Math.pow(rl, dt);
  const fp = dt === 1 ? rp : Math.pow(rp, dt);
  s.r *= fl;
  s.b *= fl;
  s.w *= fl;
  s.a *= fl;
  s.pr *= fp;
  for (let i = 0; i < 24; i++) s.hod[i]! *= fp;
  for (let i = 0; i < 7; i++) s.dow[i]! *= fp;
  s.end = endHour;
}

/**
 * Marks every hour before `nowMs`'s hour observed (in place; returns the state): what
 * `forecast` assumes anyway, useful before storing a state or comparing two.
 */
export function advance(
  s: UsageState,
  nowMs: number,
  params: ForecastParams = DEFAULT_FORECAST_PARAMS,
): UsageState {
  decayTo(s, Math.floor(nowMs / HOUR_MS), params);
  return s;
}

/** Σ r^k for k = 0..n-1. */
const geometric = (r: number, n: number) => (n <= 0 ? 0 : (1 - Math.pow(r, n)) / (1 - r));

/**
 * The decayed number of hours observed in [start, end), overall and per seasonal slot: the
 * denominators of the rates. Depends only on (start, end, params), so the last one is kept.
 */
interface Exposure {
  level: number;
  profile: number;
  hod: Float64Array;
  dow: Float64Array;
}
let lastExposure: { key: string; params: ForecastParams; e: Exposure } | undefined;

function exposure(start: number, end: number, p: ForecastParams): Exposure {
  const key = `${start}:${end}`;
  if (lastExposure && lastExposure.key === key && lastExposure.params === p) return lastExposure.e;
  const n = end - start;
  const rl = ratio(p.level_half_life_h);
  const rp = ratio(p.profile_half_life_h);
  const hod = new Float64Array(24);
  const dow = new Float64Array(7);
  if (n > 0) {
    const r24 = Math.pow(rp, 24);
    for (let slot = 0; slot < 24; slot++) {
      const latest = end - 1 - mod(end - 1 - slot, 24);
      if (latest < start) continue;
      const count = Math.floor((latest - start) / 24) + 1;
      hod[slot] = Math.pow(rp, end - 1 - latest) * geometric(r24, count);
    }
    // Day by day from the newest, until the weights no longer matter (≈ 1e-6).
    const oldest = Math.max(start, end - Math.ceil(20 * p.profile_half_life_h));
    for (let day = Math.floor((end - 1) / 24); day * 24 + 23 >= oldest; day--) {
      const from = Math.max(oldest, day * 24);
      const to = Math.min(end, day * 24 + 24);
      if (to <= from) continue;
      // Hours from..to-1 have weights rp^(end-1-(to-1)) .. rp^(end-1-from).
      dow[mod(day, 7)]! += Math.pow(rp, end - to) * geometric(rp, to - from);
    }
  }
  const e = { level: geometric(rl, n), profile: geometric(rp, n), hod, dow };
  lastExposure = { key, params: p, e };
  return e;
}

/** The seasonal factors of a state (each ~1 on average), as of `end`. */
interface Season {
  hod: Float64Array;
  dow: Float64Array;
  /** 1 / (mean(hod) × mean(dow)): makes a week's mean factor 1. */
  norm: number;
}

function season(s: UsageState, e: Exposure, fp: number, p: ForecastParams): Season {
  const hod = new Float64Array(24);
  const dow = new Float64Array(7);
  const mean = e.profile > 0 ? (s.pr * fp) / e.profile : 0;
  if (mean <= 0) {
    hod.fill(1);
    dow.fill(1);
    return { hod, dow, norm: 1 };
  }
  const k = p.season_prior;
  let sh = 0;
  let sd = 0;
  for (let i = 0; i < 24; i++) {
    hod[i] = (s.hod[i]! * fp + k * mean) / ((e.hod[i]! + k) * mean);
    sh += hod[i]!;
  }
  for (let i = 0; i < 7; i++) {
    dow[i] = (s.dow[i]! * fp + k * mean) / ((e.dow[i]! + k) * mean);
    sd += dow[i]!;
  }
  return { hod, dow, norm: 1 / ((sh / 24) * (sd / 7)) };
}

/** The level rates and seasonal factors of a state as of hour `end` (≥ s.end), without changing it. */
interface Fitted {
  reads: number;
  bytes: number;
  writes: number;
  active: number;
  season: Season;
}

/**
 * `minHours`: a history shorter than that counts as that long, quiet in the hours not
 * observed (the level divides by at least the decayed exposure of `minHours` hours).
 */
function fitted(s: UsageState, end: number, p: ForecastParams, minHours = 0): Fitted {
  const at = Math.max(end, s.end);
  const e = exposure(s.start, at, p);
  const rl = ratio(p.level_half_life_h);
  const fl = Math.pow(rl, at - s.end);
  const fp = Math.pow(ratio(p.profile_half_life_h), at - s.end);
  const level = Math.max(e.level, geometric(rl, minHours));
  const per = e.level > 0 ? fl / level : 0;
  return {
    reads: s.r * per,
    bytes: s.b * per,
    writes: s.w * per,
    active: Math.min(1, s.a * per),
    season: season(s, e, fp, p),
  };
}

/**
 * The longest period the forecast knows (a week): a forecast over a horizon of H hours
 * divides the level by at least min(H, PERIOD_HOURS) hours of exposure, so one read in a
 * young dataset's first day is not taken for a daily rate when it may be a weekly one.
 */
export const PERIOD_HOURS = 168;

const factorAt = (z: Season, hour: number) =>
  z.hod[mod(hour, 24)]! * z.dow[dayOfWeek(hour)]! * z.norm;

/**
 * The expected usage over the `horizonHours` hours from the hour holding `nowMs` (or from
 * the state's end, if later): rates per hour averaged over the horizon (seasonal), and the
 * probability of any access in it. Hours after the last bucket count as quiet. Does not
 * change the state.
 */
export function forecast(
  s: UsageState,
  nowMs: number,
  horizonHours: number,
  model: ForecastModel = { version: 'forecast-default', params: DEFAULT_FORECAST_PARAMS },
): UsageForecast {
  const p = model.params;
  const now = Math.max(s.end, Math.floor(nowMs / HOUR_MS));
  const H = Math.max(1, Math.round(horizonHours));
  // The rate over a horizon needs evidence of one period of it (up to a week): a younger
  // history counts as min(H, PERIOD_HOURS) hours, quiet where unobserved (README "Forecasts").
  const f = fitted(s, now, p, Math.min(H, PERIOD_HOURS));
  // Seasonal factors repeat weekly: sum one week (or less) and scale by whole weeks.
  const span = Math.min(H, 168);
  let sumF = 0;
  let logQuiet = 0;
  for (let i = 0; i < span; i++) {
    const fac = factorAt(f.season, now + i);
    sumF += fac;
    logQuiet += Math.log1p(-Math.min(1 - 1e-12, f.active * fac));
  }
  let totalF = sumF;
  let totalLog = logQuiet;
  if (H > 168) {
    const weeks = Math.floor(H / 168);
    totalF *= weeks;
    totalLog *= weeks;
    for (let i = weeks * 168; i < H; i++) {
      const fac = factorAt(f.season, now + i);
      totalF += fac;
      totalLog += Math.log1p(-Math.min(1 - 1e-12, f.active * fac));
    }
  }
  const meanF = totalF / H;
  return {
    model_version: model.version,
    reads_per_hour: f.reads * meanF,
    read_bytes_per_hour: f.bytes * meanF,
    writes_per_hour: f.writes * meanF,
    p_access: f.active > 0 ? -Math.expm1(totalLog) : 0,
    horizon_hours: H,
  };
}

/**
 * Expected reads in each hour of [fromMs, toMs) (hours from the hour holding fromMs), as
 * forecast from the state: the hourly forecast the accuracy check compares.
 */
export function hourlyReads(
  s: UsageState,
  fromMs: number,
  toMs: number,
  params: ForecastParams = DEFAULT_FORECAST_PARAMS,
): number[] {
  const from = Math.max(s.end, Math.floor(fromMs / HOUR_MS));
  const to = Math.ceil(toMs / HOUR_MS);
  const f = fitted(s, from, params);
  const out: number[] = [];
  for (let h = from; h < to; h++) out.push(f.reads * factorAt(f.season, h));
  return out;
}

/** The naive last-value forecast of hourly reads: the reads of the last observed hour (0 when it had no access). */
export function lastValue(s: UsageState): number {
  return s.last === s.end - 1 ? s.last_reads : 0;
}

/** Sums of absolute errors over held-out hours; add many datasets into one. */
export interface HoldoutScore {
  /** Dataset-hours scored. */
  hours: number;
  actual_reads: number;
  model_abs_error: number;
  naive_abs_error: number;
}

export const emptyScore = (): HoldoutScore => ({
  hours: 0,
  actual_reads: 0,
  model_abs_error: 0,
  naive_abs_error: 0,
});

/**
 * Scores one dataset's forecast over the held-out window [fromMs, toMs) and adds it into
 * `score` (returned). `s` is the dataset's state folded over the training part only (up to
 * fromMs); `actual` are its buckets inside the window (any order; hours without a bucket
 * had 0 reads). The model forecasts every held-out hour from fromMs; the naive forecast
 * repeats lastValue(s) as of fromMs.
 */
export function scoreHoldout(
  s: UsageState,
  actual: readonly HourlyBucket[],
  fromMs: number,
  toMs: number,
  params: ForecastParams = DEFAULT_FORECAST_PARAMS,
  score: HoldoutScore = emptyScore(),
): HoldoutScore {
  const from = Math.floor(fromMs / HOUR_MS);
  const to = Math.ceil(toMs / HOUR_MS);
  if (to <= from) return score;
  if (s.end > from)
    throw new RangeError('scoreHoldout: the state has observed hours inside the holdout');
  const naive = s.end === from ? lastValue(s) : 0;
  const predicted = hourlyReads(s, fromMs, toMs, params);
  const reads = new Float64Array(to - from);
  for (const b of actual) {
    const h = Math.floor(b.hour / HOUR_MS);
    if (h >= from && h < to) reads[h - from]! += b.read_count;
  }
  for (let i = 0; i < reads.length; i++) {
    const a = reads[i]!;
    score.actual_reads += a;
    score.model_abs_error += Math.abs(predicted[i]! - a);
    score.naive_abs_error += Math.abs(naive - a);
  }
  score.hours += reads.length;
  return score;
}

/** The accuracy figures a model keeps: WAPE (and MAE) of hourly reads, the model's and the naive forecast's. */
export interface Accuracy {
  metric: 'wape_hourly_reads';
  /** Σ|model − actual| / Σ actual; null when nothing was read in the holdout. */
  model_wape: number | null;
  /** Σ|naive − actual| / Σ actual for the last-value forecast; null when nothing was read. */
  naive_wape: number | null;
  /** Mean absolute error per dataset-hour. */
  model_mae: number | null;
  naive_mae: number | null;
  /** Dataset-hours and reads in the holdout. */
  hours: number;
  actual_reads: number;
}

export function accuracyOf(score: HoldoutScore): Accuracy {
  const wape = (e: number) => (score.actual_reads > 0 ? e / score.actual_reads : null);
  const mae = (e: number) => (score.hours > 0 ? e / score.hours : null);
  return {
    metric: 'wape_hourly_reads',
    model_wape: wape(score.model_abs_error),
    naive_wape: wape(score.naive_abs_error),
    model_mae: mae(score.model_abs_error),
    naive_mae: mae(score.naive_abs_error),
    hours: score.hours,
    actual_reads: score.actual_reads,
  };
}
