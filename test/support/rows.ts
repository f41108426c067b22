import { lexicalLocationKey } from '../../storage/location-key';
import type { NewDataset } from '../../store/schema';

/**
 * A `datasets` row for tests that write the store directly: a hot dataset of nothing, with
 * its location key taken lexically (as migration 005 keys old rows). Override what matters.
 */
export function datasetRow(
  name: string,
  uri: string,
  overrides: Partial<Omit<NewDataset, 'location_key'>> = {},
): NewDataset & { location_key: string } {
  return {
    name,
    path_uri: uri,
    location_key: lexicalLocationKey(uri),
    current_tier: 'hot',
    latency_slo_ms: null,
    size_bytes: 0,
    object_count: 0,
    owner: null,
    policy: null,
    version: 1,
    last_access_ts: null,
    tier_since: 0,
    created_at: 0,
    updated_at: 0,
    ...overrides,
  };
}
