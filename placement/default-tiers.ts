import type { TierTable } from './types';

/**
 * The embedded mode's tiers: three directories under the data dir, priced like a typical
 * cloud's standard, infrequent-access and archive-instant classes so the cost model has
 * something plausible to weigh. `dataDir` is an absolute path.
 */
export function defaultTiers(dataDir: string): TierTable {
  const base = `file://${dataDir.replace(/\/+$/, '')}/storage`;
  return {
    hot: {
      name: 'hot',
      location_template: `${base}/hot/{name}`,
      storage_class: 'standard',
      read_latency_ms: 1,
      price_gb_month: 0.1,
      price_retrieval_gb: 0,
      price_per_1k_requests: 0,
      min_storage_days: 0,
      egress_gb: 0,
    },
    warm: {
      name: 'warm',
      location_template: `${base}/warm/{name}`,
      storage_class: 'standard',
      read_latency_ms: 20,
      price_gb_month: 0.0125,
      price_retrieval_gb: 0.01,
      price_per_1k_requests: 0.001,
      min_storage_days: 30,
      egress_gb: 0,
    },
    cold: {
      name: 'cold',
      location_template: `${base}/cold/{name}`,
      storage_class: 'standard',
      read_latency_ms: 200,
      price_gb_month: 0.004,
      price_retrieval_gb: 0.03,
      price_per_1k_requests: 0.01,
      min_storage_days: 90,
      egress_gb: 0,
    },
  };
}
