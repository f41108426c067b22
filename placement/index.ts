/** Placement: pure decision logic (tiering rules, cost model). No I/O. */
export * from './types';
export { decide, choose, explain, age, type Choice } from './decide';
export { recencyTier } from './recency';
export { monthlyCost, monthlyUsage, usd, GB, type CostBreakdown, type MonthlyUsage } from './cost';
export { resolveLocation, templateProblem } from './location';
export { defaultTiers } from './default-tiers';
