import { DAY_MS, moveCost } from '../cost';
import { TIER_NAMES, type TierTable } from '../types';
import type { Schedule } from './account';
import { type DatasetCtx, type Tier } from './account';
import type { Trace } from './trace';

/**
 * The exact offline optimum of one dataset under the cost contract, among the tiers that meet
 * its SLO (`ctx.allowed`; when no tier meets it, the fastest). It knows the whole trace.
 *
 * ## The recurrence
 * A schedule is a sequence of segments; a segment is a tier entered at a boundary s and left
 * at a later boundary k (or held to the end N). Let P_x(k) be the cost of holding tier x over
 * steps [0, k) (storage plus the access cost of the events in those steps), so holding x over
 * [s, k) costs P_x(k) − P_x(s). Let E_s(x) be the least cost of [0, s) plus entering x at s
 * (the move, and the early deletion of the tier left). Leaving x at k, having entered at s:
 *
 *   W_k(x) = min_{s<k} E_s(x) + P_x(k) − P_x(s) + γ_x · max(0, m_x − (k − s))
 *   E_k(y) = min_{x≠y} W_k(x) + base(x, y)
 *   optimum = min_x min_s E_s(x) + P_x(N) − P_x(s)     (no early deletion at the end)
 *
 * with m_x = min_storage_days(x) in steps, γ_x the early-deletion charge per step not held,
 * base(x, y) the rest of the move's cost. The initial tier is "entered" at 0 at no cost (its
 * held time counts from the start of the trace), or left at 0 with the full charge. Moving
 * x → y → z at one boundary never beats x → z (base(x,z) ≤ base(x,y) + base(y,z), charges
 * ≥ 0), and leaving a tier to re-enter it never beats staying, so these are all schedules.
 *
 * ## O(1) per boundary: a sliding window
 * In W_k(x) the entries s with k − s ≥ m_x pay no early deletion: a running minimum of
 * E_s(x) − P_x(s). The others pay γ_x(m_x − k + s): the minimum of E_s(x) − P_x(s) + γ_x·s over
 * the window k − m_x < s < k, a monotone deque (an entry dominated by a later one stays
 * dominated after it leaves the window too: if v_s ≥ v_s' with s < s', then E_s − P_s ≥
 * E_s' − P_s' + γ(s' − s), which is at least the window cost of s' while s' is in the window).
 *
 * ## Only some boundaries can be switching points
 * Call C the smallest set of boundaries that holds 0, N, both ends of every step with an
 * event, and is closed under ± m_x (its floor and ceiling when m_x is not whole) within
 * [0, N]. Claim: some optimal schedule switches only at boundaries of C. Proof: take an
 * optimal schedule with the fewest switches outside C, and a maximal run of consecutive
 * switches outside C, between neighbours t_prev and t_next in C (or 0 and N). Shift the whole
 * run by δ. Until a switch of the run reaches a point of C, no event changes tier (ends of
 * event steps are in C), the segments inside the run keep their lengths, the two outer
 * segments change length linearly: the storage is linear in δ and the two early-deletion
 * terms γ·max(0, m − length) are convex in δ. So the cost is convex piecewise linear in δ,
 * minimal at δ = 0; it is therefore flat at 0 up to a kink or an end of the range: a kink
 * puts the first switch at t_prev + m or the last at t_next − m, both in C; an end puts a
 * switch on a point of C. Either way the cost is the same with fewer switches outside C:
 * a contradiction. Between two consecutive points of C there is at most one step with
 * events, so P_x at the points of C is all the recurrence needs, and the window test uses
 * the real distance between points. With the default tiers and a 30-day hourly trace
 * (m_warm = 720 = N, m_cold = 2160 > N) C is just the event steps' ends and 0, N.
 */

/** Buffers reused from one dataset to the next. */
const buf = {
  mark: new Uint8Array(0),
  c: new Int32Array(0),
  P: new Float64Array(0),
  E: new Float64Array(0),
  predX: new Int8Array(0),
  predS: new Int32Array(0),
  dq: [new Int32Array(0), new Int32Array(0), new Int32Array(0)],
};

function ensure(m: number): void {
  if (buf.c.length >= m + 1) return;
  const n = Math.max(m + 1, buf.c.length * 2);
  buf.c = new Int32Array(n);
  buf.P = new Float64Array(3 * n);
  buf.E = new Float64Array(3 * n);
  buf.predX = new Int8Array(3 * n);
  buf.predS = new Int32Array(3 * n);
  buf.dq = [new Int32Array(n), new Int32Array(n), new Int32Array(n)];
}

/** The candidate boundaries C (see above), sorted, in buf.c; returns how many minus one. */
function candidates(trace: Trace, ctx: DatasetCtx, mSteps: number[]): number {
  const N = trace.steps;
  const shifts: number[] = [];
  for (let x = 0; x < 3; x++) {
    if (!ctx.allowed[x] && x !== ctx.init) continue;
    const m = mSteps[x]!;
    if (m > 0 && m < N) {
      for (const d of [Math.floor(m), Math.ceil(m)])
        if (d >= 1 && !shifts.includes(d)) shifts.push(d);
    }
  }
  if (shifts.length === 0) {
    // Sorted merge of {0, N} and the ends of the event steps.
    ensure(2 * (ctx.a1 - ctx.a0) + 2);
    const c = buf.c;
    let n = 0;
    c[n++] = 0;
    for (let a = ctx.a0; a < ctx.a1; a++) {
      const k = trace.step[a]!;
      if (k > c[n - 1]!) c[n++] = k;
      if (k + 1 > c[n - 1]!) c[n++] = k + 1;
    }
    if (c[n - 1]! < N) c[n++] = N;
    return n - 1;
  }
  if (buf.mark.length < N + 1) buf.mark = new Uint8Array(N + 1);
  const mark = buf.mark;
  mark.fill(0, 0, N + 1);
  const queue: number[] = [0, N];
  mark[0] = 1;
  mark[N] = 1;
  for (let a = ctx.a0; a < ctx.a1; a++) {
    const k = trace.step[a]!;
    for (const p of [k, k + 1]) {
      if (!mark[p]) {
        mark[p] = 1;
        queue.push(p);
      }
    }
  }
  for (let q = 0; q < queue.length; q++) {
    const p = queue[q]!;
    for (const d of shifts) {
      for (const r of [p - d, p + d]) {
        if (r >= 0 && r <= N && !mark[r]) {
          mark[r] = 1;
          queue.push(r);
        }
      }
    }
  }
  ensure(queue.length);
  let n = 0;
  for (let p = 0; p <= N; p++) if (mark[p]) buf.c[n++] = p;
  return n - 1;
}

/** Fills `out` with an optimal schedule of the dataset and returns its cost. */
export function optimum(
  trace: Trace,
  tiers: TierTable,
  acc: Float64Array,
  ctx: DatasetCtx,
  out: Schedule,
): number {
  out.clear();
  const N = trace.steps;
  if (N === 0) {
    out.push(0, ctx.init);
    return 0;
  }
  const obj = { size_bytes: ctx.ds.size_bytes, object_count: ctx.ds.object_count };
  const specs = TIER_NAMES.map((t) => tiers[t]);
  const mSteps = specs.map((s) => (s.min_storage_days * DAY_MS) / trace.stepMs);
  // γ_x: the early-deletion charge per step not held (moveCost's charge for the whole minimum, spread).
  const gamma = specs.map((s) =>
    s.min_storage_days > 0
      ? (moveCost(s, s, obj, 0).early_deletion / s.min_storage_days / DAY_MS) * trace.stepMs
      : 0,
  );
  const base = specs.map((a) => specs.map((b) => moveCost(a, b, obj, Infinity).total));
  const allowed = ctx.allowed;
  const r = ctx.storagePerStep;

  const m = candidates(trace, ctx, mSteps);
  ensure(m);
  const { c, P, E, predX, predS, dq } = buf;
  // P_x at each candidate point.
  P[0] = P[1] = P[2] = 0;
  let a = ctx.a0;
  for (let i = 0; i < m; i++) {
    const len = c[i + 1]! - c[i]!;
    const active = a < ctx.a1 && trace.step[a] === c[i];
    for (let x = 0; x < 3; x++) {
      P[3 * (i + 1) + x] = P[3 * i + x]! + r[x]! * len + (active ? acc[3 * a + x]! : 0);
    }
    if (active) a++;
  }

  const INF = Infinity;
  E.fill(INF, 0, 3 * m);
  // Boundary 0: stay in the initial tier at no cost, or leave it with its full charge.
  const init = ctx.init;
  const leave0 = gamma[init]! * Math.max(0, mSteps[init]!);
  for (let y = 0; y < 3; y++) {
    if (!allowed[y]) continue;
    if (y === init) {
      E[y] = 0;
      predX[y] = init;
      predS[y] = -2;
    } else {
      E[y] = leave0 + base[init]![y]!;
      predX[y] = init;
      predS[y] = -1;
    }
  }

  const head = [0, 0, 0];
  const tail = [0, 0, 0];
  const pref = [INF, INF, INF];
  const prefArg = [-1, -1, -1];
  const all = [INF, INF, INF];
  const allArg = [-1, -1, -1];
  const W = [INF, INF, INF];
  const WArg = [-1, -1, -1];
  const win = (x: number, s: number) => E[3 * s + x]! - P[3 * s + x]! + gamma[x]! * c[s]!;

  for (let k = 1; k <= m; k++) {
    const ck = c[k]!;
    for (let x = 0; x < 3; x++) {
      W[x] = INF;
      if (!allowed[x]) continue;
      const s = k - 1;
      const e = E[3 * s + x]!;
      if (e < INF) {
        const pv = e - P[3 * s + x]!;
        if (pv < all[x]!) {
          all[x] = pv;
          allArg[x] = s;
        }
        if (mSteps[x]! <= 0) {
          if (pv < pref[x]!) {
            pref[x] = pv;
            prefArg[x] = s;
          }
        } else {
          const v = win(x, s);
          const q = dq[x]!;
          while (tail[x]! > head[x]! && win(x, q[tail[x]! - 1]!) >= v) tail[x]!--;
          q[tail[x]!++] = s;
        }
      }
      const q = dq[x]!;
      while (head[x]! < tail[x]! && ck - c[q[head[x]!]!]! >= mSteps[x]!) {
        const s2 = q[head[x]!++]!;
        const pv = E[3 * s2 + x]! - P[3 * s2 + x]!;
        if (pv < pref[x]!) {
          pref[x] = pv;
          prefArg[x] = s2;
        }
      }
      const pk = P[3 * k + x]!;
      if (pref[x]! < INF) {
        W[x] = pref[x]! + pk;
        WArg[x] = prefArg[x]!;
      }
      if (head[x]! < tail[x]!) {
        const s3 = q[head[x]!]!;
        const w = win(x, s3) + pk + gamma[x]! * (mSteps[x]! - ck);
        if (w < W[x]!) {
          W[x] = w;
          WArg[x] = s3;
        }
      }
    }
    if (k === m) break;
    for (let y = 0; y < 3; y++) {
      if (!allowed[y]) continue;
      let best = INF;
      let bx = -1;
      for (let x = 0; x < 3; x++) {
        if (x === y || W[x] === INF) continue;
        const v = W[x]! + base[x]![y]!;
        if (v < best) {
          best = v;
          bx = x;
        }
      }
      if (bx >= 0) {
        E[3 * k + y] = best;
        predX[3 * k + y] = bx;
        predS[3 * k + y] = WArg[bx]!;
      }
    }
  }

  // The end: no early deletion.
  let total = INF;
  let fx = -1;
  for (let x = 0; x < 3; x++) {
    if (all[x]! === INF) continue;
    const v = all[x]! + P[3 * m + x]!;
    if (v < total) {
      total = v;
      fx = x;
    }
  }
  // Walk the predecessors back to boundary 0.
  const segs: Array<[number, Tier]> = [];
  let x = fx;
  let s = allArg[fx]!;
  for (;;) {
    segs.push([c[s]!, x as Tier]);
    const ps = predS[3 * s + x]!;
    if (ps < 0) break;
    x = predX[3 * s + x]!;
    s = ps;
  }
  for (let i = segs.length - 1; i >= 0; i--) out.push(segs[i]![0], segs[i]![1]);
  return total;
}
