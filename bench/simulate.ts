import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseMix, simulateCommand, type SimulateOptions } from '../cli/commands/simulate';
import { defaultTiers } from '../placement/default-tiers';
import {
  generateTrace,
  patternOf,
  simulate,
  TraceBuilder,
  type SimulationResult,
} from '../placement/simulate';
import { accessCosts, datasetCtx, Schedule, type Tier } from '../placement/simulate/account';
import { generatedPolicies } from '../placement/simulate/generate';
import { optimum } from '../placement/simulate/optimum';
import { rulesFor } from '../placement/simulate';
import { moveCost } from '../placement/cost';
import { TIER_NAMES, type TierTable } from '../placement/types';
import { DAY_MS } from '../placement/cost';
import type { SimDataset, Trace } from '../placement/simulate';
import type { PlacementRules } from '../placement/types';

/**
 * The simulator's benchmark (issue 10, item 8): generate a trace with `dim simulate
 * --generate`, then time `dim simulate` on it (reading the JSON lines, every strategy, the
 * optimum), in this process, through the CLI's own command function. Prints each
 * strategy's cost, dim / optimum and dim / intelligent-tiering, and the targets. Nothing
 * asserts on the figures.
 *
 * `node bench/run.js placement simulate [datasets] [days] [seed] [mix] [--heuristic]`
 * (default 100,000 datasets, 30 days, seed 1, the default mix).
 *
 * With `--by-pattern`, instead: the same trace generated and simulated in this process
 * (no files, not timed), and each strategy's cost per generated pattern (`groups` of the
 * result), with dim / optimum per pattern and each pattern's share of the optimum's cost.
 * `--bound` adds an estimate of the least any online policy can cost (see `onlineBound`).
 */
const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

export async function main(args: string[]): Promise<void> {
  const flags = args.filter((a) => a.startsWith('--'));
  const [n = '100000', days = '30', seed = '1', mix] = args.filter((a) => !a.startsWith('--'));
  if (flags.includes('--by-pattern')) return byPattern(n, days, seed, mix, flags);
  const dir = mkdtempSync(path.join(tmpdir(), 'dim-bench-simulate-'));
  const io = (sink: string[]) => ({
    out: (t: string) => void sink.push(t),
    err: (t: string) => void sink.push(t),
  });
  try {
    const gen: string[] = [];
    let t = process.hrtime.bigint();
    const g: SimulateOptions = { generate: dir, count: n, days, seed, mix, json: true };
    await simulateCommand(g, dir, io(gen));
    const genMs = since(t);
    const summary = JSON.parse(gen.join('')) as { events: number; files: string[] };

    const out: string[] = [];
    const cpu = process.cpuUsage();
    t = process.hrtime.bigint();
    await simulateCommand(
      {
        datasets: summary.files[0],
        events: summary.files[1],
        policies: summary.files[2],
        heuristic: flags.includes('--heuristic'),
        json: true,
      },
      dir,
      io(out),
    );
    const ms = since(t);
    const used = process.cpuUsage(cpu);
    const r = JSON.parse(out.join('')) as SimulationResult;
    const by = Object.fromEntries(r.strategies.map((s) => [s.name, s]));
    const dim = by['dim']!;
    const opt = by['optimum']!.total_usd;
    const it = by['intelligent-tiering']!.total_usd;
    const lines = [
      `simulate: ${r.datasets} datasets × ${days} days, ${r.events} events, ${r.steps} steps, seed ${seed}, mix ${mix ?? 'default'}${flags.includes('--heuristic') ? ', heuristic (no model)' : ''}`,
      `  generate ${(genMs / 1000).toFixed(1)} s · simulate ${(ms / 1000).toFixed(1)} s wall, ${((used.user + used.system) / 1e6).toFixed(1)} s CPU (target < 60 s)`,
      ...r.strategies.map(
        (s) =>
          `  ${s.name.padEnd(20)} $${s.total_usd.toFixed(2).padStart(12)}  ×${(s.total_usd / opt).toFixed(3)} of optimum  ${String(s.moves).padStart(8)} moves  ${String(s.slo_violations).padStart(7)} SLO violations`,
      ),
      `  dim / optimum ${(dim.total_usd / opt).toFixed(3)} (target ≤ 1.10) · dim / intelligent-tiering ${(dim.total_usd / it).toFixed(3)} (target ≤ 0.80) · dim SLO violations ${dim.slo_violations} (target 0)`,
      `  static strategies without SLO violations that dim beats: ${
        r.strategies
          .filter((s) => s.name.startsWith('static-') && s.slo_violations === 0)
          .map((s) => `${s.name} ${dim.total_usd < s.total_usd ? 'yes' : 'NO'}`)
          .join(', ') || 'none'
      }`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `--by-pattern`: the costs per generated pattern, in process. */
function byPattern(
  n: string,
  days: string,
  seed: string,
  mix: string | undefined,
  flags: string[],
) {
  const g = generateTrace({
    seed: Number(seed),
    datasets: Number(n),
    days: Number(days),
    mix: mix === undefined ? undefined : parseMix(mix),
  });
  const b = new TraceBuilder(g.datasets);
  const index = new Map(g.datasets.map((d, i) => [d.id, i]));
  for (const e of g.events()) b.add(index.get(e.dataset_id)!, e.op, e.size_bytes, e.ts);
  const policies = new Map(
    generatedPolicies(new Date(0).toISOString()).map((p) => [
      p['name'] as string,
      p as unknown as PlacementRules,
    ]),
  );
  const tiers = defaultTiers(tmpdir());
  const trace = b.build(3_600_000);
  const r = simulate(trace, {
    tiers,
    policies,
    model: flags.includes('--heuristic') ? null : undefined,
    groupOf: (ds) => patternOf(ds.name) ?? 'other',
  });
  const total = (x: SimulationResult['strategies'], name: string) =>
    x.find((s) => s.name === name)!;
  const opt = total(r.strategies, 'optimum').total_usd;
  const lines = [
    `simulate by pattern: ${r.datasets} datasets × ${days} days, ${r.events} events, seed ${seed}, mix ${mix ?? 'default'}`,
    `  ${'pattern'.padEnd(9)} ${'datasets'.padStart(8)} ${'dim'.padStart(14)} ${'optimum'.padStart(14)} ${'dim/opt'.padStart(8)} ${'opt share'.padStart(9)} ${'gap share'.padStart(9)}  dim moves  opt moves  dim SLO`,
  ];
  const dimAll = total(r.strategies, 'dim').total_usd;
  for (const grp of [
    ...r.groups!,
    { group: 'all', datasets: r.datasets, strategies: r.strategies },
  ]) {
    const d = total(grp.strategies, 'dim');
    const o = total(grp.strategies, 'optimum');
    lines.push(
      `  ${grp.group.padEnd(9)} ${String(grp.datasets).padStart(8)} ${('$' + d.total_usd.toFixed(2)).padStart(14)} ${('$' + o.total_usd.toFixed(2)).padStart(14)} ${(d.total_usd / o.total_usd).toFixed(3).padStart(8)} ${((100 * o.total_usd) / opt).toFixed(1).padStart(8)}% ${((100 * (d.total_usd - o.total_usd)) / (dimAll - opt)).toFixed(1).padStart(8)}%  ${String(d.moves).padStart(9)}  ${String(o.moves).padStart(9)}  ${String(d.slo_violations).padStart(7)}`,
    );
    lines.push(
      `  ${''.padEnd(9)} dim: storage $${d.storage_usd.toFixed(0)} access $${d.access_usd.toFixed(0)} moves $${d.move_usd.toFixed(0)} early deletion $${d.early_delete_usd.toFixed(0)} · optimum: storage $${o.storage_usd.toFixed(0)} access $${o.access_usd.toFixed(0)} moves $${o.move_usd.toFixed(0)} early deletion $${o.early_delete_usd.toFixed(0)}`,
    );
  }
  if (flags.includes('--bound')) {
    const lb = onlineBound(trace, tiers, policies, (ds) => patternOf(ds.name) ?? 'other');
    lines.push(
      `  online bound (one common path per class of look-alikes until each one's first event, clairvoyant after): ${(lb.total / opt).toFixed(3)} × optimum`,
      '  ' +
        [...lb.byGroup]
          .map(([k, v]) => {
            const o = total(r.groups!.find((x) => x.group === k)!.strategies, 'optimum');
            return `${k} ${(v / o.total_usd).toFixed(3)}`;
          })
          .join(' · '),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/**
 * A lower bound, under one assumption, of what any online policy can cost on a trace that
 * starts without history. Until a dataset's first event a policy knows of it only what it
 * knew at the start (size, object count, SLO, policy, initial tier; a model trained on the
 * past gives every never-accessed dataset the same forecast), so a deterministic policy
 * moves look-alike datasets along one common path σ until each one's first event. The
 * assumption: datasets of one class (same initial tier, allowed tiers, policy and size
 * decade) are look-alikes; the generator draws these independently of the pattern, so a
 * policy cannot tell a weekly job from an archive before its first read.
 *
 * For a class, the bound is the least over common paths σ of Σ_d prefix_d(σ) + V_d(σ(e_d)):
 * prefix_d is the contract's cost of σ for dataset d over the steps before its first event
 * step e_d (storage, σ's moves and early deletions, exactly), V_d(x) the least cost of the
 * rest from boundary e_d in tier x, knowing the future (the exact optimum of the rest of
 * the trace with x as the initial tier, held since the start of the trace: σ entered x at
 * boundary 0 at the earliest, so this can only lower the early deletion, a relaxation). A dynamic program over σ's state (tier, boundary entered) finds the
 * least σ. A dataset never accessed has e_d = N and V_d = 0.
 */
function onlineBound(
  trace: Trace,
  tiers: TierTable,
  policies: Map<string, PlacementRules>,
  groupOf: (ds: SimDataset) => string,
): { total: number; byGroup: Map<string, number> } {
  const N = trace.steps;
  const acc = accessCosts(trace, tiers);
  const sched = new Schedule();
  /** The tiers with x's minimum storage shortened by `days` (x held since the start of the trace). */
  const held = (x: number, days: number): TierTable => {
    const name = TIER_NAMES[x]!;
    const md = Math.max(0, tiers[name].min_storage_days - days);
    return { ...tiers, [name]: { ...tiers[name], min_storage_days: md } };
  };
  type Member = {
    g: string;
    e: number;
    V: number[];
    st: number[];
    gamma: number[];
    base: number[][];
    m: number[];
  };
  const classes = new Map<string, { init: Tier; allowed: boolean[]; members: Member[] }>();
  for (let i = 0; i < trace.datasets.length; i++) {
    const ds = trace.datasets[i]!;
    const ctx = datasetCtx(trace, tiers, i, rulesFor(ds.policy, policies));
    const obj = { size_bytes: ds.size_bytes, object_count: ds.object_count };
    const e = ctx.a1 > ctx.a0 ? trace.step[ctx.a0]! : N;
    let V = [0, 0, 0];
    if (e < N) {
      const sub: Trace = {
        datasets: [ds],
        stepMs: trace.stepMs,
        t0: trace.t0 + e * trace.stepMs,
        steps: N - e,
        events: 0,
        off: Int32Array.of(0, ctx.a1 - ctx.a0),
        step: trace.step.slice(ctx.a0, ctx.a1).map((k) => k - e),
        reads: trace.reads.subarray(ctx.a0, ctx.a1),
        writes: trace.writes.subarray(ctx.a0, ctx.a1),
        bytesRead: trace.bytesRead.subarray(ctx.a0, ctx.a1),
        bytesWritten: trace.bytesWritten.subarray(ctx.a0, ctx.a1),
        lastTs: trace.lastTs.subarray(ctx.a0, ctx.a1),
      };
      const subAcc = acc.subarray(3 * ctx.a0, 3 * ctx.a1);
      const days = (e * trace.stepMs) / DAY_MS;
      V = [0, 1, 2].map((x) => {
        const t = held(x, days);
        const c = datasetCtx(sub, t, 0, ctx.rules);
        return optimum(sub, t, subAcc, { ...c, init: x as Tier }, sched);
      });
    }
    const specs = TIER_NAMES.map((t) => tiers[t]);
    const member: Member = {
      g: groupOf(ds),
      e,
      V,
      st: [...ctx.storagePerStep],
      m: specs.map((sp) => (sp.min_storage_days * DAY_MS) / trace.stepMs),
      gamma: specs.map((sp) =>
        sp.min_storage_days > 0
          ? (moveCost(sp, sp, obj, 0).early_deletion / sp.min_storage_days / DAY_MS) * trace.stepMs
          : 0,
      ),
      base: specs.map((a) => specs.map((b) => moveCost(a, b, obj, Infinity).total)),
    };
    const key = `${ctx.init}:${ctx.allowed.join()}:${ds.policy}:${Math.floor(Math.log10(ds.size_bytes))}`;
    let c = classes.get(key);
    if (!c) classes.set(key, (c = { init: ctx.init, allowed: ctx.allowed, members: [] }));
    c.members.push(member);
  }
  let total = 0;
  const byGroup = new Map<string, number>();
  for (const { init, allowed, members } of classes.values()) {
    const path = bestCommonPath(N, init, allowed, members);
    total += path.cost;
    // Each member's share: its prefix along σ plus its V at its first event.
    for (const d of members) {
      let cost = 0;
      let tier: number = init;
      let since = 0;
      for (let t = 0; t <= Math.min(d.e, N - 1); t++) {
        const x = path.tier[t]!;
        if (x !== tier) {
          cost += d.base[tier]![x]! + d.gamma[tier]! * Math.max(0, d.m[tier]! - (t - since));
          tier = x;
          since = t;
        }
        if (t < d.e) cost += d.st[x]!;
      }
      if (d.e < N) cost += d.V[path.tier[d.e]!]!;
      byGroup.set(d.g, (byGroup.get(d.g) ?? 0) + cost);
    }
  }
  return { total, byGroup };
}

/**
 * The least-cost common path σ (its tier at each boundary 0..N-1) for a class: a dynamic
 * program over (tier, boundary entered), O(N² · 9) per class. σ keeps to the tiers the
 * class's SLO allows, as the optimum does (even before any read).
 */
function bestCommonPath(
  N: number,
  init: Tier,
  /** σ keeps to these, as the optimum does (the initial tier, if not one, is left at 0). */
  allowed: boolean[],
  members: Array<{
    e: number;
    V: number[];
    st: number[];
    gamma: number[];
    base: number[][];
    m: number[];
  }>,
): { cost: number; tier: Uint8Array } {
  // Per boundary t: waiting = members with e > t (pay storage of step t), exiting = e == t,
  // movable = e >= t (σ's move at t applies to them).
  const W = new Float64Array(3 * N);
  const X = new Float64Array(3 * (N + 1));
  const B = new Float64Array(9 * N);
  const G = new Float64Array(3 * N);
  const m = members[0]?.m ?? [0, 0, 0];
  for (const d of members) {
    for (let x = 0; x < 3; x++) X[3 * d.e + x]! += d.V[x]!;
    const last = Math.min(d.e, N - 1);
    // Prefix sums are cheaper, but N·members is small enough here.
    for (let t = 0; t <= last; t++) {
      for (let x = 0; x < 3; x++) {
        if (t < d.e) W[3 * t + x]! += d.st[x]!;
        G[3 * t + x]! += d.gamma[x]!;
        for (let y = 0; y < 3; y++) B[9 * t + 3 * x + y]! += d.base[x]![y]!;
      }
    }
  }
  // val[x][s]: least cost of boundaries < t with σ in x since s (s = 0 for the initial tier).
  const INF = Infinity;
  let val = [0, 1, 2].map(() => new Float64Array(N + 1).fill(INF));
  const choice: Array<Array<Int32Array>> = []; // per t, per y: the (x, s) moved from, or -1 stay
  val[init]![0] = 0;
  for (let t = 0; t < N; t++) {
    const next = [0, 1, 2].map((x) => Float64Array.from(val[x]!));
    const ch = [0, 1, 2].map(() => Int32Array.of(-1, -1));
    for (let y = 0; y < 3; y++) {
      if (!allowed[y]) {
        next[y]!.fill(INF);
        continue;
      }
      let best = INF;
      let bx = -1;
      let bs = -1;
      for (let x = 0; x < 3; x++) {
        if (x === y) continue;
        const vx = val[x]!;
        const b = B[9 * t + 3 * x + y]!;
        const g = G[3 * t + x]!;
        for (let s = 0; s <= t; s++) {
          const v = vx[s]!;
          if (v === INF) continue;
          const c = v + b + g * Math.max(0, m[x]! - (t - s));
          if (c < best) {
            best = c;
            bx = x;
            bs = s;
          }
        }
      }
      if (best < next[y]![t]!) {
        next[y]![t] = best;
        ch[y] = Int32Array.of(bx, bs);
      }
    }
    // Exits at boundary t, then the waiting ones' storage in step t.
    for (let x = 0; x < 3; x++) {
      const add = X[3 * t + x]! + W[3 * t + x]!;
      const v = next[x]!;
      for (let s = 0; s <= t; s++) if (v[s] !== INF) v[s]! += add;
    }
    choice.push(ch);
    val = next;
  }
  // Boundary N: the never-accessed ones exit with V = 0 (X at N is 0).
  let cost = INF;
  let bx = 0;
  let bs = 0;
  for (let x = 0; x < 3; x++) {
    for (let s = 0; s <= N; s++) {
      if (val[x]![s]! < cost) {
        cost = val[x]![s]!;
        bx = x;
        bs = s;
      }
    }
  }
  // Back-track: σ is x from s on; at s it came from choice[s][x].
  const tier = new Uint8Array(N);
  let t = N;
  let x = bx;
  let s = bs;
  for (;;) {
    for (let k = s; k < t; k++) tier[k] = x;
    if (s === 0 && x === init) break; // the initial tier, held from the start
    const from = choice[s]![x]!;
    t = s;
    x = from[0]!;
    s = from[1]!;
  }
  return { cost, tier };
}
