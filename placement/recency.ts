import type { TierName } from './types';

/**
 * The prototype's recency rule: last access at most `hotMaxAgeS` ago → hot, at most
 * `warmMaxAgeS` ago → warm, older (or never) → cold. Ages are seconds; a last access in
 * the future (clock skew) counts as now.
 */
export function recencyTier(
  lastAccessAgeS: number | null,
  hotMaxAgeS: number,
  warmMaxAgeS: number,
): TierName {
  if (lastAccessAgeS === null) return 'cold';
  const age = Math.max(0, lastAccessAgeS);
  if (age <= hotMaxAgeS) return 'hot';
  if (age <= warmMaxAgeS) return 'warm';
  return 'cold';
}
