import { DAY_MS } from '../cost';
import { DEFAULT_FORECAST_PARAMS, type ForecastModel } from '../forecast';
import { DEFAULT_RULES, type PlacementRules, type TierTable } from '../types';
import {
  account,
  accessCosts,
  datasetCtx,
  Schedule,
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
import type { Trace } from './trace';

export { TraceBuilder, type SimDataset, type SimOp, type Trace } from './trace';
export { generateTrace, PATTERNS, type GenerateOptions, type Pattern } from './generate';

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
  for (let i = 0; i < trace.datasets.length; i++) {
    // The model's trainings, for a block of datasets at a time (training.ts).
    if (model && i % TRAIN_BLOCK === 0) {
      block = i;
      trained = train(trace, i, Math.min(trace.datasets.length, i + TRAIN_BLOCK), model, times);
    }
    const ds = trace.datasets[i]!;
    const ctx = datasetCtx(trace, tiers, i, rulesFor(ds.policy, opts.policies));
    STATIC_TIERS.forEach(([, t], j) => {
      staticStrategy(ctx, tierIndex(t), sched);
      account(trace, tiers, acc, ctx, sched, totals[j]!);
    });
    seedRecency(trace, ctx, sched, exhaustive);
    account(trace, tiers, acc, ctx, sched, totals[3]!);
    intelligentTiering(trace, ctx, sched, exhaustive);
    account(trace, tiers, acc, ctx, sched, totals[4]!);
    dimStrategy(
      trace,
      tiers,
      ctx,
      sched,
      exhaustive,
      calls,
      trained && { times, forecasts: trained.forecasts[i - block]! },
    );
    account(trace, tiers, acc, ctx, sched, totals[5]!);
    optimum(trace, tiers, acc, ctx, sched);
    account(trace, tiers, acc, ctx, sched, totals[6]!);
  }
  stats.chooseCalls = calls.calls;
  return {
    steps: trace.steps,
    datasets: trace.datasets.length,
    events: trace.events,
    strategies: STRATEGY_NAMES.map((name, j) => {
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
    }),
  };
}
