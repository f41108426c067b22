import {
  BREAK_EVEN_HORIZON_DAYS,
  DAY_MS,
  breakEven,
  days,
  forecastUsage,
  monthlyCost,
  monthlyUsage,
  moveCost,
  objectsOf,
  usd,
  type BreakEven,
} from './cost';
import type { UsageForecast } from './forecast';
import { resolveLocation } from './location';
import { recencyTier } from './recency';
import {
  MODEL_VERSION,
  type DatasetSignals,
  type Decision,
  type PlacementRules,
  type Step,
  type TierName,
  type TierTable,
} from './types';

/**
 * Decides where one dataset should live. Pure: same inputs, same answer.
 * `explain(choose(...))`: see those two for the rules and the reason.
 */
export function decide(
  ds: DatasetSignals,
  rules: PlacementRules,
  tiers: TierTable,
  now: number,
  horizonDays = BREAK_EVEN_HORIZON_DAYS,
  forecast?: UsageForecast | null,
): Decision {
  return explain(choose(ds, rules, tiers, now, horizonDays, forecast));
}

/**
 * The advice for one dataset without its explanation: the tier, where and in which
 * storage class, and what `explain` needs to write the reason and the inputs. Choosing
 * costs a fraction of explaining (no strings built but the target location), so a sweep
 * can compare the choice with a dataset's standing recommendation first and explain only
 * the ones that changed.
 */
export interface Choice {
  recommended_tier: TierName;
  action: 'move' | 'stay';
  target_location: string;
  storage_class: string;
  model_version: string;
  /** What the choice was made from; only `explain` reads it. */
  basis: Basis;
}

/** The values a choice was made from, and why each rule after recency acted. */
export interface Basis {
  ds: DatasetSignals;
  rules: PlacementRules;
  tiers: TierTable;
  /** Seconds since the last access, null when never accessed. */
  lastAgeS: number | null;
  heldS: number;
  observedDays: number;
  readsPerMonth: number;
  /** The model's forecast the usage came from; null: the heuristic (no trained model). */
  forecast: UsageForecast | null;
  cost: Costs;
  /** The break-even test of the move the rules proposed, null when they proposed none. */
  move: (BreakEven & { to: TierName }) | null;
  slo: number | null;
  steps: Step[];
  /** One per step after the first (recency), in the same order. */
  notes: Note[];
}

/** Why a rule acted, in the values its sentence in the reason needs. */
type Note =
  | { rule: 'pinned'; tier: TierName; breaksSlo: boolean }
  | { rule: 'slo_none'; tier: TierName }
  | { rule: 'slo_excluded'; from: TierName; tier: TierName }
  | { rule: 'cost_target'; from: TierName; tier: TierName; within: boolean }
  | { rule: 'cost_target_none'; from: TierName }
  | { rule: 'min_residency'; held: boolean }
  | { rule: 'break_even'; to: TierName };

/**
 * Chooses the tier. The rules run in this order; each later one adjusts what the earlier
 * ones chose:
 *
 * 1. With a `forecast` (a trained model, placement/forecast.ts): **Forecast**: the usage
 *    in the cost model is the forecast's (reads, bytes read and writes per hour × 730),
 *    and the tier is the one of lowest expected monthly cost among the tiers that meet
 *    the latency SLO (the fastest when none does). The policy's hot_max_age_s and
 *    warm_max_age_s are not used then (they stay in the inputs): recency is in the
 *    forecast's decay already. `model_version` is the model's.
 *    Without one: **Recency** (the prototype's rule, `heuristic-v1`): last access ≤
 *    hot_max_age_s ago → hot, ≤ warm_max_age_s → warm, older or never → cold, and the
 *    usage is extrapolated from the lifetime totals.
 * 2. **Pinned tier**: a policy's pinned_tier wins over everything below, even an SLO it
 *    breaks (the reason says so) and minimum residency.
 * 3. **Latency SLO** (the stricter of the dataset's and the policy's): tiers whose expected
 *    read latency exceeds it are excluded; if the choice is excluded, the cheapest allowed
 *    tier (by the cost model) takes its place. If no tier meets it, the fastest one.
 * 4. **Cost target**: if the choice's projected monthly cost exceeds the policy's target,
 *    the fastest allowed tier within the target is chosen, else the cheapest allowed tier
 *    that is cheaper than the choice. The SLO still holds: a tier it excludes is never
 *    chosen.
 * 5. **Minimum residency**: if the choice differs from the current tier and the dataset
 *    entered its current tier less than min_residency_s ago, it stays, so it does not
 *    flap. Except when the current tier breaks the SLO: then it moves anyway.
 * 6. **Break-even**: a move is made only when the monthly saving (cost now minus cost
 *    after, cost.ts) over `horizonDays` pays for the move's one-off cost (retrieval and
 *    egress out of the current tier, write requests into the new one, the current tier's
 *    early-deletion charge). Otherwise the dataset stays. Except when the current tier
 *    breaks the SLO, or the tier is pinned: then it moves whatever the break-even says.
 *
 * Written for speed (the placement sweep runs it for every dataset): no sorting, few
 * allocations. The costs come from cost.ts, the one formula.
 */
export function choose(
  ds: DatasetSignals,
  rules: PlacementRules,
  tiers: TierTable,
  now: number,
  horizonDays = BREAK_EVEN_HORIZON_DAYS,
  forecast?: UsageForecast | null,
): Choice {
  const lastAgeS =
    ds.last_access_ts === null ? null : Math.max(0, (now - ds.last_access_ts) / 1000);
  const heldS = Math.max(0, (now - ds.tier_since) / 1000);

  // Usage per month (the forecast's, else extrapolated from the totals), and the cost of
  // each tier (cost.ts).
  const fc = forecast ?? null;
  const usage = fc
    ? forecastUsage(ds, fc, ds.created_at, now)
    : monthlyUsage(ds, ds.created_at, now);
  const cost = {
    hot: monthlyCost(tiers.hot, usage).total,
    warm: monthlyCost(tiers.warm, usage).total,
    cold: monthlyCost(tiers.cold, usage).total,
  };
  const slo =
    ds.latency_slo_ms === null
      ? rules.latency_slo_ms
      : rules.latency_slo_ms === null
        ? ds.latency_slo_ms
        : Math.min(ds.latency_slo_ms, rules.latency_slo_ms);
  const ok = {
    hot: slo === null || tiers.hot.read_latency_ms <= slo,
    warm: slo === null || tiers.warm.read_latency_ms <= slo,
    cold: slo === null || tiers.cold.read_latency_ms <= slo,
  };

  // 1. Forecast: the cheapest tier meeting the SLO (the fastest when none does). Else recency.
  const anyOk = ok.hot || ok.warm || ok.cold;
  let tier = fc
    ? anyOk
      ? pick(tiers, cost, ok, byCost)
      : pick(tiers, cost, ALL, byLatency)
    : recencyTier(lastAgeS, rules.hot_max_age_s, rules.warm_max_age_s);
  const steps: Step[] = [{ rule: fc ? 'forecast' : 'recency', tier }];
  const notes: Note[] = [];

  if (rules.pinned_tier) {
    // 2. Pinned tier wins.
    tier = rules.pinned_tier;
    steps.push({ rule: 'pinned', tier });
    notes.push({ rule: 'pinned', tier, breaksSlo: !ok[tier] });
  } else {
    // 3. Latency SLO. With no tier meeting it, only the fastest is allowed.
    if (!anyOk) {
      const f = pick(tiers, cost, ALL, byLatency);
      ok[f] = true;
      if (tier !== f) {
        tier = f;
        steps.push({ rule: 'latency_slo', tier });
        notes.push({ rule: 'slo_none', tier });
      }
    } else if (!ok[tier]) {
      const from = tier;
      tier = pick(tiers, cost, ok, byCost);
      steps.push({ rule: 'latency_slo', tier });
      notes.push({ rule: 'slo_excluded', from, tier });
    }

    // 4. Cost target.
    const target = rules.cost_target_usd_month;
    if (target !== null && cost[tier] > target) {
      const from = tier;
      const max = cost[from];
      const cheaper = {
        hot: ok.hot && cost.hot < max,
        warm: ok.warm && cost.warm < max,
        cold: ok.cold && cost.cold < max,
      };
      const within = {
        hot: cheaper.hot && cost.hot <= target,
        warm: cheaper.warm && cost.warm <= target,
        cold: cheaper.cold && cost.cold <= target,
      };
      const anyWithin = within.hot || within.warm || within.cold;
      const anyCheaper = cheaper.hot || cheaper.warm || cheaper.cold;
      if (anyWithin || anyCheaper) {
        tier = anyWithin
          ? pick(tiers, cost, within, byLatency)
          : pick(tiers, cost, cheaper, byCost);
        steps.push({ rule: 'cost_target', tier });
        notes.push({ rule: 'cost_target', from, tier, within: anyWithin });
      } else {
        steps.push({ rule: 'cost_target', tier });
        notes.push({ rule: 'cost_target_none', from });
      }
    }

    // 5. Minimum residency.
    const current = ds.current_tier;
    if (tier !== current && heldS < rules.min_residency_s) {
      const held = ok[current];
      if (held) tier = current;
      steps.push({ rule: 'min_residency', tier });
      notes.push({ rule: 'min_residency', held });
    }
  }

  // 6. Break-even of the move the rules proposed.
  const current = ds.current_tier;
  let move: Basis['move'] = null;
  if (tier !== current) {
    const heldDays = (heldS * 1000) / DAY_MS;
    const oneOff = moveCost(tiers[current], tiers[tier], objectsOf(ds), heldDays).total;
    move = { to: tier, ...breakEven(cost[current], cost[tier], oneOff, horizonDays) };
    if (!move.pays_back && !rules.pinned_tier && ok[current]) {
      notes.push({ rule: 'break_even', to: tier });
      tier = current;
      steps.push({ rule: 'break_even', tier });
    }
  }

  const moves = tier !== current;
  const spec = tiers[tier];
  return {
    recommended_tier: tier,
    action: moves ? 'move' : 'stay',
    target_location: moves ? resolveLocation(spec.location_template, ds) : ds.path_uri,
    storage_class: spec.storage_class,
    model_version: fc ? fc.model_version : MODEL_VERSION,
    basis: {
      ds,
      rules,
      tiers,
      lastAgeS,
      heldS,
      observedDays: usage.observed_days,
      readsPerMonth: usage.reads_per_month,
      forecast: fc,
      cost,
      move,
      slo,
      steps,
      notes,
    },
  };
}

/** The reason (one sentence per rule that acted, then the advice) and the inputs of a choice. */
export function explain(c: Choice): Decision {
  const { ds, rules, lastAgeS, heldS, cost, move, slo, steps } = c.basis;
  const tier = c.recommended_tier;
  const fc = c.basis.forecast;
  let reason = fc
    ? forecastSentence(fc, steps[0]!.tier, c.basis)
    : recencySentence(lastAgeS, steps[0]!.tier, rules);
  for (const n of c.basis.notes) reason += '; ' + noteSentence(n, c.basis);
  if (c.action === 'move' && move) {
    reason += `. Move from ${ds.current_tier} to ${tier} (${usd(cost[tier])}/month instead of ${usd(cost[ds.current_tier])}/month): ${moveSentence(move)}.`;
  } else {
    reason += `. Keep in ${tier} (${usd(cost[tier])}/month).`;
  }
  if (!fc) reason += ' ' + NO_MODEL;

  return {
    recommended_tier: tier,
    action: c.action,
    target_location: c.target_location,
    storage_class: c.storage_class,
    reason,
    model_version: c.model_version,
    inputs: {
      last_access_age_s: lastAgeS === null ? null : Math.round(lastAgeS * 1000) / 1000,
      tier_held_s: Math.round(heldS * 1000) / 1000,
      size_bytes: ds.size_bytes,
      read_count: ds.read_count,
      write_count: ds.write_count,
      bytes_read: ds.bytes_read,
      bytes_written: ds.bytes_written,
      observed_days: Math.round(c.basis.observedDays * 1e4) / 1e4,
      reads_per_month: Math.round(c.basis.readsPerMonth * 100) / 100,
      forecast: fc && {
        model_version: fc.model_version,
        reads_per_hour: round6(fc.reads_per_hour),
        read_bytes_per_hour: round6(fc.read_bytes_per_hour),
        writes_per_hour: round6(fc.writes_per_hour),
        p_access: round6(fc.p_access),
        horizon_hours: fc.horizon_hours,
      },
      policy: rules.name,
      hot_max_age_s: rules.hot_max_age_s,
      warm_max_age_s: rules.warm_max_age_s,
      min_residency_s: rules.min_residency_s,
      pinned_tier: rules.pinned_tier,
      cost_target_usd_month: rules.cost_target_usd_month,
      latency_slo_ms: slo,
      cost_usd_month: {
        hot: Math.round(cost.hot * 1e6) / 1e6,
        warm: Math.round(cost.warm * 1e6) / 1e6,
        cold: Math.round(cost.cold * 1e6) / 1e6,
      },
      break_even: move && {
        to: move.to,
        saving_usd_month: Math.round(move.saving_usd_month * 1e6) / 1e6,
        move_usd: Math.round(move.move_usd * 1e6) / 1e6,
        payback_days: move.payback_days === null ? null : Math.round(move.payback_days * 1e4) / 1e4,
        horizon_days: move.horizon_days,
        pays_back: move.pays_back,
      },
      steps,
    },
  };
}

/** The last sentence of a heuristic reason: says there is no trained model and how to get one. */
export const NO_MODEL =
  'No trained model covers this dataset (POST /train trains one), so the recency heuristic decided.';

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/** `3.2`, `0.041`, `0`: rates in reason sentences. */
const num = (v: number) =>
  v === 0 ? '0' : v >= 10 ? v.toFixed(0) : String(Number(v.toPrecision(2)));

/** `1.2 GB`, `340 kB`: bytes in reason sentences (GB = 10^9). */
function bytes(v: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${num(v)} ${units[i]}`;
}

function forecastSentence(f: UsageForecast, tier: TierName, b: Basis): string {
  const h = f.horizon_hours;
  const horizon = h % 24 === 0 ? `${h / 24} d` : `${h} h`;
  const head =
    `Model ${f.model_version} forecasts ${num(f.reads_per_hour)} reads/hour (${bytes(f.read_bytes_per_hour)}/hour), ` +
    `${num(f.writes_per_hour)} writes/hour, ${Math.round(f.p_access * 100)}% chance of access within ${horizon}`;
  const none = b.slo !== null && !ORDER.some((t) => b.tiers[t].read_latency_ms <= b.slo!);
  return none
    ? `${head}; no tier meets the ${b.slo} ms SLO → ${tier}, the fastest`
    : `${head} → ${tier} is the cheapest${b.slo === null ? '' : ` tier meeting the ${b.slo} ms SLO`} (${usd(b.cost[tier])}/month)`;
}

function recencySentence(lastAgeS: number | null, tier: TierName, rules: PlacementRules): string {
  if (lastAgeS === null) return 'Never accessed → cold';
  if (tier === 'hot')
    return `Last accessed ${age(lastAgeS)} ago, within the ${age(rules.hot_max_age_s)} hot window → hot`;
  if (tier === 'warm')
    return `Last accessed ${age(lastAgeS)} ago, within the ${age(rules.warm_max_age_s)} warm window → warm`;
  return `Last accessed ${age(lastAgeS)} ago, beyond the ${age(rules.warm_max_age_s)} warm window → cold`;
}

function noteSentence(n: Note, b: Basis): string {
  const { tiers, cost, slo, rules } = b;
  switch (n.rule) {
    case 'pinned':
      return (
        `policy "${rules.name ?? ''}" pins it to ${n.tier}` +
        (n.breaksSlo
          ? `, although ${n.tier}'s ${tiers[n.tier].read_latency_ms} ms read latency breaks the ${slo} ms SLO`
          : '')
      );
    case 'slo_none':
      return `no tier meets the ${slo} ms SLO; ${n.tier} is the fastest (${tiers[n.tier].read_latency_ms} ms)`;
    case 'slo_excluded':
      return `${n.from}'s ${tiers[n.from].read_latency_ms} ms read latency breaks the ${slo} ms SLO; ${n.tier} is the cheapest tier that meets it (${usd(cost[n.tier])}/month)`;
    case 'cost_target':
      return (
        `${n.from} would cost ${usd(cost[n.from])}/month, over the ${usd(rules.cost_target_usd_month!)} target; ${n.tier} costs ${usd(cost[n.tier])}/month` +
        (n.within ? '' : ', still over the target but the cheapest allowed')
      );
    case 'cost_target_none':
      return `${n.from}'s ${usd(cost[n.from])}/month is over the ${usd(rules.cost_target_usd_month!)} target, but no cheaper tier ${slo === null ? 'exists' : 'meets the SLO'}`;
    case 'min_residency': {
      const current = b.ds.current_tier;
      return n.held
        ? `stays in ${current}: it has been there ${age(b.heldS)}, less than the ${age(rules.min_residency_s)} minimum residency`
        : `${current} breaks the SLO, so the ${age(rules.min_residency_s)} minimum residency does not hold it`;
    }
    case 'break_even': {
      const m = b.move!;
      return m.saving_usd_month > 0
        ? `moving to ${n.to} would save ${usd(m.saving_usd_month)}/month, but the move costs ${usd(m.move_usd)}, not paid back within ${m.horizon_days} days`
        : `moving to ${n.to} would not save anything (${usd(cost[n.to])}/month instead of ${usd(cost[b.ds.current_tier])}/month)`;
    }
  }
}

/** The numbers of a move: "saves $12.40/month; the move costs $3.10, paid back in 8 days". */
export function moveSentence(m: BreakEven): string {
  const cost = `the move costs ${usd(m.move_usd)}`;
  return m.saving_usd_month > 0
    ? `saves ${usd(m.saving_usd_month)}/month; ${cost}, paid back in ${days(m.payback_days!)}`
    : `costs ${usd(-m.saving_usd_month)}/month more; ${cost}`;
}

type Costs = Record<TierName, number>;
type Allowed = Record<TierName, boolean>;
const ALL: Allowed = { hot: true, warm: true, cold: true };
const ORDER: readonly TierName[] = ['hot', 'warm', 'cold'];

/** Is `a` better than `b`: cheaper (then faster), or faster (then cheaper). */
const byCost = (tiers: TierTable, cost: Costs, a: TierName, b: TierName) =>
  cost[a] < cost[b] || (cost[a] === cost[b] && tiers[a].read_latency_ms < tiers[b].read_latency_ms);
const byLatency = (tiers: TierTable, cost: Costs, a: TierName, b: TierName) =>
  tiers[a].read_latency_ms < tiers[b].read_latency_ms ||
  (tiers[a].read_latency_ms === tiers[b].read_latency_ms && cost[a] < cost[b]);

/** The best allowed tier by `better`; the caller guarantees at least one is allowed. */
function pick(
  tiers: TierTable,
  cost: Costs,
  allowed: Allowed,
  better: (tiers: TierTable, cost: Costs, a: TierName, b: TierName) => boolean,
): TierName {
  let best: TierName | undefined;
  for (const t of ORDER) {
    if (allowed[t] && (best === undefined || better(tiers, cost, t, best))) best = t;
  }
  return best!;
}

/** `45 s`, `12 min`, `3 h`, `2 d`: ages in reason sentences. */
export function age(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}
