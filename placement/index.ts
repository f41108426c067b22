/** Placement: pure decision logic (tiering rules, cost model). No I/O. */
export * from './types';
export { decide, choose, explain, age, moveSentence, NO_MODEL, type Choice } from './decide';
export { recencyTier } from './recency';
export {
  monthlyCost,
  monthlyUsage,
  forecastUsage,
  moveCost,
  breakEven,
  planCost,
  objectsOf,
  usd,
  days,
  GB,
  MONTH_DAYS,
  BREAK_EVEN_HORIZON_DAYS,
  type BreakEven,
  type CostBreakdown,
  type MonthlyUsage,
  type MoveCost,
  type PlanCost,
} from './cost';
export { resolveLocation, templateProblem } from './location';
export { defaultTiers } from './default-tiers';
export * from './forecast';
