import { recencyTier } from './recency';

describe('recencyTier (the prototype rule)', () => {
  it.each([
    [0, 'hot'],
    [60, 'hot'],
    [60.001, 'warm'],
    [600, 'warm'],
    [600.5, 'cold'],
    [86_400, 'cold'],
  ] as const)('age %s s → %s with the default 60 s / 600 s thresholds', (ageS, tier) => {
    expect(recencyTier(ageS, 60, 600)).toBe(tier);
  });

  it('never accessed → cold', () => {
    expect(recencyTier(null, 60, 600)).toBe('cold');
  });

  it('a last access in the future (clock skew) counts as now', () => {
    expect(recencyTier(-30, 60, 600)).toBe('hot');
  });

  it('uses the thresholds it is given (per policy)', () => {
    expect(recencyTier(100, 120, 3600)).toBe('hot');
    expect(recencyTier(1000, 120, 3600)).toBe('warm');
    expect(recencyTier(4000, 120, 3600)).toBe('cold');
  });
});
