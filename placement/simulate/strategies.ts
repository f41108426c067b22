import { BREAK_EVEN_HORIZON_DAYS, DAY_MS, monthlyCost, moveCost, MONTH_DAYS } from '../cost';
import { choose } from '../decide';
import type { UsageForecast } from '../forecast';
import { resolveLocation } from '../location';
import { TIER_NAMES, type DatasetSignals, type TierName, type TierTable } from '../types';
import type { Schedule } from './account';
import { tierIndex, type DatasetCtx, type Tier } from './account';
import type { Trace } from './trace';

/**
 * The online strategies: each chooses a dataset's tier at every step boundary from what
 * happened before it. They are run by `drive`, which asks a strategy at boundary 0, at the
 * boundary after each step with events, and at the boundaries the strategy itself names as
 * the next one where its answer could change without new events; at every other boundary
 * the answer is by construction the one it gave last, so the schedule is the same as asking
 * at every boundary (the unit tests compare both on random traces).
 */
interface Online {
  /** The events of active step `a` (a step before the boundary being decided) are now known. */
  observe(a: number): void;
  /** The tier at boundary k. */
  decide(k: number, current: Tier): Tier;
  /** The dataset is in tier `t` from boundary k on (called after a move). */
  moved(k: number, t: Tier): void;
  /** The next boundary after k whose answer could differ, when nothing else happens. */
  next(k: number, current: Tier): number;
}

function drive(trace: Trace, ctx: DatasetCtx, s: Online, out: Schedule, exhaustive: boolean) {
  out.clear();
  const N = trace.steps;
  let tier = ctx.init;
  let a = ctx.a0;
  let k = 0;
  let first = true;
  while (k < N) {
    while (a < ctx.a1 && trace.step[a]! < k) s.observe(a++);
    const t = s.decide(k, tier);
    if (first) {
      out.push(0, t);
      first = false;
    } else if (t !== tier) out.push(k, t);
    if (t !== tier) s.moved(k, t);
    tier = t;
    if (exhaustive) {
      k++;
      continue;
    }
    const afterEvents = a < ctx.a1 ? trace.step[a]! + 1 : N;
    k = Math.max(k + 1, Math.min(s.next(k, tier), afterEvents));
  }
  if (first) out.push(0, ctx.init);
}

export function staticStrategy(ctx: DatasetCtx, tier: Tier, out: Schedule): void {
  out.clear();
  out.push(0, tier);
}

/**
 * `seed-recency`, the prototype's rule: last access at most 60 s before the boundary → hot,
 * at most 10 min → warm, else (or never) cold. Reads and writes are accesses.
 */
export function seedRecency(trace: Trace, ctx: DatasetCtx, out: Schedule, exhaustive = false) {
  const { t0, stepMs } = trace;
  let last: number | null = null;
  const at = (k: number) => t0 + k * stepMs;
  const tierAt = (k: number): Tier => {
    if (last === null) return 2;
    const age = at(k) - last;
    return age <= 60_000 ? 0 : age <= 600_000 ? 1 : 2;
  };
  drive(
    trace,
    ctx,
    {
      observe: (a) => (last = trace.lastTs[a]!),
      decide: (k) => tierAt(k),
      moved: () => {},
      next: (k) => {
        if (last === null) return Infinity;
        // The answer changes once the age passes 60 s, then 600 s.
        for (const limit of [60_000, 600_000]) {
          const first = Math.floor((last + limit - t0) / stepMs) + 1;
          if (first > k) return first;
        }
        return Infinity;
      },
    },
    out,
    exhaustive,
  );
}

/**
 * `intelligent-tiering`: no access for 30 days → warm, for 90 days → cold, otherwise hot. The
 * idle time counts from the end of the step that held the last access, or from the start of
 * the trace; 30 days idle exactly is warm.
 */
export function intelligentTiering(
  trace: Trace,
  ctx: DatasetCtx,
  out: Schedule,
  exhaustive = false,
) {
  const { stepMs } = trace;
  let lastEnd = 0; // boundary index
  const warmAfter = Math.ceil((30 * DAY_MS) / stepMs);
  const coldAfter = Math.ceil((90 * DAY_MS) / stepMs);
  drive(
    trace,
    ctx,
    {
      observe: (a) => (lastEnd = trace.step[a]! + 1),
      decide: (k) => {
        const idle = k - lastEnd;
        return idle >= coldAfter ? 2 : idle >= warmAfter ? 1 : 0;
      },
      moved: () => {},
      next: (k) => {
        if (lastEnd + warmAfter > k) return lastEnd + warmAfter;
        if (lastEnd + coldAfter > k) return lastEnd + coldAfter;
        return Infinity;
      },
    },
    out,
    exhaustive,
  );
}

/**
 * With `trained` (the model trained on the past of the trace, training.ts), the production
 * path with a trained model: at each boundary `choose` gets the forecast of the latest
 * training at or before it (none before the first: the heuristic, as in the store).
 */
export interface DimTrained {
  times: number[];
  /** This dataset's forecast at each training time. */
  forecasts: UsageForecast[];
}

/**
 * `dim`: the production decision, `choose` from placement/decide.ts (what the placement
 * sweep and GET /recommendations call), with signals built only from the past of the
 * trace: the totals of the events before the boundary, the last access, the tier and when
 * it was entered (the start of the trace for the initial tier), created_at = the start of
 * the trace; and, with `trained`, the forecast of the latest training.
 *
 * Not every boundary needs a call (72 million calls at ~0.7 µs would take most of a
 * minute): between two steps with events and two trainings, `choose`'s inputs are fixed but
 * `now`, and `Stability.until` finds a time up to which its answer provably does not change.
 * It is asked again at the first boundary after that time, after each step with events, and
 * at each training. (The unit tests compare the schedules with asking at every boundary.)
 */
export function dimStrategy(
  trace: Trace,
  tiers: TierTable,
  ctx: DatasetCtx,
  out: Schedule,
  exhaustive = false,
  stats?: { calls: number },
  trained?: DimTrained,
) {
  const { t0, stepMs } = trace;
  let fc: UsageForecast | null = null;
  let j = -1; // the latest training at or before the boundary being decided
  const times = trained?.times ?? [];
  const nextTraining = (t: number) => {
    for (let i = Math.max(0, j); i < times.length; i++) if (times[i]! >= t) return times[i]!;
    return Infinity;
  };
  const ds = ctx.ds;
  const at = (k: number) => t0 + k * stepMs;
  const sig: DatasetSignals = {
    id: ds.id,
    name: ds.name,
    path_uri: resolveLocation(tiers[ds.current_tier].location_template, ds),
    current_tier: ds.current_tier,
    size_bytes: ds.size_bytes,
    object_count: ds.object_count,
    latency_slo_ms: ds.latency_slo_ms,
    tier_since: t0,
    created_at: t0,
    last_access_ts: null,
    read_count: 0,
    write_count: 0,
    bytes_read: 0,
    bytes_written: 0,
  };
  const stable = new Stability(tiers, ctx);
  drive(
    trace,
    ctx,
    {
      observe: (a) => {
        sig.read_count += trace.reads[a]!;
        sig.write_count += trace.writes[a]!;
        sig.bytes_read += trace.bytesRead[a]!;
        sig.bytes_written += trace.bytesWritten[a]!;
        sig.last_access_ts = trace.lastTs[a]!;
      },
      decide: (k) => {
        const now = at(k);
        while (j + 1 < times.length && times[j + 1]! <= now) fc = trained!.forecasts[++j]!;
        if (stats) stats.calls++;
        return tierIndex(choose(sig, ctx.rules, tiers, now, undefined, fc).recommended_tier);
      },
      moved: (k, t) => {
        sig.current_tier = TIER_NAMES[t]!;
        sig.path_uri = resolveLocation(tiers[sig.current_tier].location_template, ds);
        sig.tier_since = at(k);
      },
      next: (k) => {
        const until = Math.min(stable.until(sig, at(k), fc), nextTraining(at(k) + 1));
        // The first boundary at or after `until`.
        return until === Infinity ? Infinity : Math.max(k + 1, Math.ceil((until - t0) / stepMs));
      },
    },
    out,
    exhaustive,
  );
}

/**
 * Up to when `choose` keeps its answer while only `now` moves. With the signals fixed (and
 * no forecast), `choose` depends on `now` through:
 *
 * 1. the recency age: its tier changes when the age passes hot_max_age_s and warm_max_age_s;
 * 2. the time held in the tier: the minimum residency holds until tier_since + min_residency_s;
 * 3. the early-deletion charge of a move out of the current tier, linear in the time held
 *    until min_storage_days have passed, zero after;
 * 4. the monthly rates (cost.ts `monthlyUsage`): totals × MONTH_DAYS / observed days, with
 *    observed days at least 1, so constant for a day after created_at, then ∝ 1/(now − created).
 *
 * Every comparison `choose` makes is one of: the recency thresholds (1), the residency (2),
 * two tiers' monthly costs (cost_x = S_x + U_x·r(now), r the rate factor of 4), a tier's cost
 * against the cost target, or a move's break-even, saving × horizon / MONTH_DAYS ≥ move cost,
 * where both sides are of the form a + b·u + c/u in u = now − created (b from 3, c from 4).
 * Its answer is a function of the outcomes of these comparisons (and constants). So the
 * answer holds until the first time one of them can change: the thresholds of 1-4 (after
 * which the forms change), or the first root of a + b·u + c/u = ±tol (a quadratic in u),
 * where tol, 10^-9 of the terms' size, covers the rounding of cost.ts's arithmetic: inside
 * that band the answer is asked at every boundary. A policy's pinned tier wins regardless
 * of time. With a forecast, the usage is the forecast's (cost.ts `forecastUsage`), fixed
 * until the next training, so every cost is a constant and only 2 and 3 move with `now`
 * (the forecast rule replaces recency; its thresholds are kept, which only adds calls).
 * (This is a bound on when to ask again; the answer always comes from `choose`.)
 */
class Stability {
  private readonly S = new Float64Array(3);
  /** U_x = (reads + writes)·q_x + bytes read·g_x: cost.ts's access terms per unit (linear). */
  private readonly q = new Float64Array(3);
  private readonly g = new Float64Array(3);
  private readonly U = new Float64Array(3);
  /** Move cost from x to y without early deletion, and the early deletion per day of x. */
  private readonly base = new Float64Array(9);
  private readonly gammaDay = new Float64Array(3);
  private readonly minDays = new Float64Array(3);
  private first = Infinity;

  constructor(
    private readonly tiers: TierTable,
    private readonly ctx: DatasetCtx,
  ) {
    const obj = { size_bytes: ctx.ds.size_bytes, object_count: ctx.ds.object_count };
    const usage = (size: number, reads: number, bytes: number) => ({
      size_bytes: size,
      reads_per_month: reads,
      writes_per_month: 0,
      bytes_read_per_month: bytes,
    });
    for (let x = 0; x < 3; x++) {
      const spec = tiers[TIER_NAMES[x]!];
      this.S[x] = monthlyCost(spec, usage(ctx.ds.size_bytes, 0, 0)).total;
      this.q[x] = monthlyCost(spec, usage(0, 1, 0)).total;
      this.g[x] = monthlyCost(spec, usage(0, 0, 1)).total;
      this.minDays[x] = spec.min_storage_days;
      this.gammaDay[x] =
        spec.min_storage_days > 0
          ? moveCost(spec, spec, obj, 0).early_deletion / spec.min_storage_days
          : 0;
      for (let y = 0; y < 3; y++) {
        this.base[3 * x + y] = moveCost(spec, tiers[TIER_NAMES[y]!], obj, Infinity).total;
      }
    }
  }

  until(sig: DatasetSignals, now: number, fc: UsageForecast | null = null): number {
    const rules = this.ctx.rules;
    if (rules.pinned_tier) return Infinity;
    const { S, U } = this;
    if (fc) {
      // With a forecast the usage is the forecast's (cost.ts forecastUsage): constant until
      // the next training, so the costs are constants (U × 1, "flat" below).
      const perMonth = MONTH_DAYS * 24;
      const rw = (fc.reads_per_hour + fc.writes_per_hour) * perMonth;
      const bytes = fc.read_bytes_per_hour * perMonth;
      for (let x = 0; x < 3; x++) U[x] = (rw * this.q[x]! + bytes * this.g[x]!) / MONTH_DAYS;
    } else {
      const rw = sig.read_count + sig.write_count;
      for (let x = 0; x < 3; x++) U[x] = rw * this.q[x]! + sig.bytes_read * this.g[x]!;
    }
    // 1, 2, 3, 4: the thresholds (a millisecond early, to be safe about rounding).
    let F = Infinity;
    const last = sig.last_access_ts;
    if (last !== null) {
      F = later(now, F, last + rules.hot_max_age_s * 1000 - 1);
      F = later(now, F, last + rules.warm_max_age_s * 1000 - 1);
    }
    F = later(now, F, sig.tier_since + rules.min_residency_s * 1000 - 1);
    const cur = tierIndex(sig.current_tier);
    const md = this.minDays[cur]!;
    const edEnd = sig.tier_since + md * DAY_MS;
    F = later(now, F, edEnd - 1);
    const cr = sig.created_at;
    F = later(now, F, cr + DAY_MS - 1);
    // Within [now, F) the forms are fixed: the first time a comparison may flip.
    const flat = fc !== null || now < cr + DAY_MS; // the rate factor is MONTH_DAYS (observed days = 1)
    const u0 = now - cr;
    const u1 = (F === Infinity ? now + 3650 * DAY_MS : F) - cr;
    const ratio = flat ? MONTH_DAYS : MONTH_DAYS * DAY_MS; // r = ratio (flat) or ratio / u
    const div = flat ? 1 : u0;
    this.first = Infinity;
    const target = rules.cost_target_usd_month;
    for (let x = 0; x < 3; x++) {
      const ux = U[x]! * ratio;
      for (let y = x + 1; y < 3; y++) {
        const uy = U[y]! * ratio;
        const scale = Math.abs(S[x]!) + Math.abs(S[y]!) + (Math.abs(ux) + Math.abs(uy)) / div;
        this.check(S[x]! - S[y]!, 0, ux - uy, scale, flat, now, cr, u0, u1);
      }
      if (target !== null) {
        const scale = Math.abs(S[x]!) + Math.abs(target) + Math.abs(ux) / div;
        this.check(S[x]! - target, 0, ux, scale, flat, now, cr, u0, u1);
      }
    }
    // Break-even of a move from the current tier to each other one: H·saving − move cost.
    const H = BREAK_EVEN_HORIZON_DAYS / MONTH_DAYS;
    const edActive = now < edEnd && md > 0;
    const gd = edActive ? this.gammaDay[cur]! : 0;
    for (let p = 0; p < 3; p++) {
      if (p === cur) continue;
      const base = this.base[3 * cur + p]!;
      // −early deletion = −γ·(M − (u + cr − tier_since)/day)
      const a =
        H * (S[cur]! - S[p]!) -
        base -
        (edActive ? gd * md - (gd * (cr - sig.tier_since)) / DAY_MS : 0);
      const b = gd / DAY_MS;
      const scale =
        H * (Math.abs(S[cur]!) + Math.abs(S[p]!)) +
        (H * (Math.abs(U[cur]! * ratio) + Math.abs(U[p]! * ratio))) / div +
        Math.abs(base) +
        (edActive ? gd * (md + u1 / DAY_MS) : 0);
      this.check(a, b, H * (U[cur]! - U[p]!) * ratio, scale, flat, now, cr, u0, u1);
    }
    return Math.min(F, this.first);
  }

  /** g(u) = a + b·u + c/u (c folded into a when flat): the first time |g| may be ≤ tol. */
  private check(
    a: number,
    b: number,
    c: number,
    scale: number,
    flat: boolean,
    now: number,
    cr: number,
    u0: number,
    u1: number,
  ): void {
    if (flat) {
      a += c;
      c = 0;
    }
    if (b === 0 && c === 0) return;
    const tol = 1e-9 * scale + 1e-300;
    const g0 = a + b * u0 + c / u0;
    if (Math.abs(g0) <= tol) {
      this.first = now;
      return;
    }
    const r1 = firstRoot(b, a - tol, c, u0, u1);
    const r2 = firstRoot(b, a + tol, c, u0, u1);
    const u = Math.min(r1, r2);
    if (u < Infinity && cr + u - 1 < this.first) this.first = cr + u - 1;
  }
}

/** F lowered to t when t is after now. */
const later = (now: number, F: number, t: number) => (t > now && t < F ? t : F);

/** The first u in (u0, u1) with b·u² + B·u + c = 0 (g(u)·u for g = B' + b·u + c/u), else ∞. */
function firstRoot(b: number, B: number, c: number, u0: number, u1: number): number {
  let best = Infinity;
  if (b === 0) {
    if (B !== 0) {
      const u = -c / B;
      if (u > u0 && u < u1) best = u;
    }
    return best;
  }
  const disc = B * B - 4 * b * c;
  if (disc < 0) return best;
  const q = -0.5 * (B + (B >= 0 ? 1 : -1) * Math.sqrt(disc));
  const r1 = q / b;
  if (r1 > u0 && r1 < u1) best = r1;
  if (q !== 0) {
    const r2 = c / q;
    if (r2 > u0 && r2 < u1 && r2 < best) best = r2;
  }
  return best;
}

export const STATIC_TIERS: Array<[string, TierName]> = [
  ['static-hot', 'hot'],
  ['static-warm', 'warm'],
  ['static-cold', 'cold'],
];
