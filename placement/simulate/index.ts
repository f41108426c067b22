import { DAY_MS } from '../cost';
import { DEFAULT_FORECAST_PARAMS, type ForecastModel } from '../forecast';
import { DEFAULT_RULES, type PlacementRules, type TierTable } from '../types';
import {
  account,
  accessCosts,
  datasetCtx,
  Schedule,
  type DatasetCtx,
  tierIndex,
  zeroTotals,
  type Totals,
} from './account';
import { optimum } from './optimum';
import { train, trainingTimes, type Trained } from './training';
import {
  dimStrategy,
  intelligentTiering,
  seedRecency,
  staticStrategy,
  STATIC_TIERS,
} from './strategies';
import type { SimDataset, Trace } from './trace';

export { TraceBuilder, type SimDataset, type SimOp, type Trace } from './trace';
export { generateTrace, patternOf, PATTERNS, type GenerateOptions, type Pattern } from './generate';

/**
 * `dim simulate`: replays a trace through the baselines, the production policy and the exact
 * offline optimum, and totals each one's costs under the contract of issue 10, item 6.
 */
export interface StrategyResult extends Totals {
  name: string;
  total_usd: number;
}

export interface SimulationResult {
  steps: number;
  datasets: number;
  events: number;
  strategies: StrategyResult[];
  /**
   * With `groupOf`: the same totals per group of datasets (e.g. per generated pattern), in
   * the order groups first appear, each with its dataset count. Absent otherwise (the
   * contract's JSON shape is unchanged).
   */
  groups?: GroupResult[];
}

export interface GroupResult {
  group: string;
  datasets: number;
  strategies: StrategyResult[];
}

export interface SimulateOptions {
  tiers: TierTable;
  /** Policies by name; a dataset's `policy` names one, else `default`, else DEFAULT_RULES. */
  policies?: Map<string, PlacementRules>;
  /** Ask every online strategy at every boundary (slow; the tests compare it with the default). */
  exhaustive?: boolean;
  /**
   * The usage model the dim strategy trains on the past of the trace (see dimStrategy);
   * null: no trained model, the heuristic throughout. Default: DEFAULT_FORECAST_PARAMS.
   */
  model?: ForecastModel | null;
  /** How often the model is retrained in simulated time (default a day). */
  retrainMs?: number;
  /** Names each dataset's group, for a breakdown of the costs per group (`groups`). */
  groupOf?: (ds: SimDataset) => string;
}

/** The simulated model's version, named in nothing but the forecasts `choose` gets. */
export const SIMULATED_MODEL: ForecastModel = {
  version: 'simulated',
  params: DEFAULT_FORECAST_PARAMS,
};
/** Datasets whose trainings are computed together (training.ts). */
const TRAIN_BLOCK = 5000;
/** History a dataset needs before it has a forecast (store/models.ts MIN_HISTORY_HOURS). */
export const MIN_HISTORY_MS = 24 * 3_600_000;

/** The policy that applies to a dataset without one (store/policies.ts's DEFAULT_POLICY_NAME). */
export const DEFAULT_POLICY = 'default';

export const STRATEGY_NAMES = [
  'static-hot',
  'static-warm',
  'static-cold',
  'seed-recency',
  'intelligent-tiering',
  'dim',
  'optimum',
] as const;

export interface SimulationStats {
  /** How many times the dim strategy called `choose`. */
  chooseCalls: number;
}

export function rulesFor(
  policy: string | null,
  policies: Map<string, PlacementRules> | undefined,
): PlacementRules {
  return (
    (policy === null ? undefined : policies?.get(policy)) ??
    policies?.get(DEFAULT_POLICY) ??
    DEFAULT_RULES
  );
}

export function simulate(
  trace: Trace,
  opts: SimulateOptions,
  stats: SimulationStats = { chooseCalls: 0 },
): SimulationResult {
  const { tiers } = opts;
  const exhaustive = opts.exhaustive ?? false;
  const acc = accessCosts(trace, tiers);
  const totals = STRATEGY_NAMES.map(() => zeroTotals());
  const sched = new Schedule();
  const calls = { calls: 0 };
  const model = opts.model === undefined ? SIMULATED_MODEL : opts.model;
  const times = model ? trainingTimes(trace, opts.retrainMs ?? DAY_MS, MIN_HISTORY_MS) : [];
  let trained: Trained | undefined;
  let block = 0;
  const groups = new Map<string, { datasets: number; totals: Totals[] }>();
  const one = zeroTotals();
  /** Accounts `sched` into strategy j's totals, and its group's. */
  const book = (ctx: DatasetCtx, j: number, g: Totals[] | undefined) => {
    if (!g) return account(trace, tiers, acc, ctx, sched, totals[j]!);
    Object.assign(one, zeroTotals());
    account(trace, tiers, acc, ctx, sched, one);
    addTotals(totals[j]!, one);
    addTotals(g[j]!, one);
  };
  for (let i = 0; i < trace.datasets.length; i++) {
    // The model's trainings, for a block of datasets at a time (training.ts).
    if (model && i % TRAIN_BLOCK === 0) {
      block = i;
      trained = train(trace, i, Math.min(trace.datasets.length, i + TRAIN_BLOCK), model, times);
    }
    const ds = trace.datasets[i]!;
    const ctx = datasetCtx(trace, tiers, i, rulesFor(ds.policy, opts.policies));
    let g: Totals[] | undefined;
    if (opts.groupOf) {
      const name = opts.groupOf(ds);
      let e = groups.get(name);
      if (!e) groups.set(name, (e = { datasets: 0, totals: STRATEGY_NAMES.map(zeroTotals) }));
      e.datasets++;
      g = e.totals;
    }
    STATIC_TIERS.forEach(([, t], j) => {
      staticStrategy(ctx, tierIndex(t), sched);
      book(ctx, j, g);
    });
    seedRecency(trace, ctx, sched, exhaustive);
    book(ctx, 3, g);
    intelligentTiering(trace, ctx, sched, exhaustive);
    book(ctx, 4, g);
    dimStrategy(
      trace,
      tiers,
      ctx,
      sched,
      exhaustive,
      calls,
      trained && { times, forecasts: trained.forecasts[i - block]! },
    );
    book(ctx, 5, g);
    optimum(trace, tiers, acc, ctx, sched);
    book(ctx, 6, g);
  }
  stats.chooseCalls = calls.calls;
  const result: SimulationResult = {
    steps: trace.steps,
    datasets: trace.datasets.length,
    events: trace.events,
    strategies: results(totals),
  };
  if (opts.groupOf) {
    result.groups = [...groups].map(([group, e]) => ({
      group,
      datasets: e.datasets,
      strategies: results(e.totals),
    }));
  }
  return result;
}

function results(totals: Totals[]): StrategyResult[] {
  return STRATEGY_NAMES.map((name, j) => {
    const t = totals[j]!;
    return {
      name,
      total_usd: t.storage_usd + t.access_usd + t.move_usd + t.early_delete_usd,
      storage_usd: t.storage_usd,
      access_usd: t.access_usd,
      move_usd: t.move_usd,
      early_delete_usd: t.early_delete_usd,
      moves: t.moves,
      slo_violations: t.slo_violations,
    };
  });
}

function addTotals(into: Totals, t: Totals): void {
  into.storage_usd += t.storage_usd;
  into.access_usd += t.access_usd;
  into.move_usd += t.move_usd;
  into.early_delete_usd += t.early_delete_usd;
  into.moves += t.moves;
  into.slo_violations += t.slo_violations;
}
