import { effectiveLimit, jobLimit } from './bandwidth';

describe('bandwidth limits', () => {
  it("a plan's limit overrides the policy's; null in the plan means none; left out, the policy's", () => {
    expect(jobLimit(1000, undefined)).toBe(1000);
    expect(jobLimit(1000, 5000)).toBe(5000);
    expect(jobLimit(1000, 10)).toBe(10);
    expect(jobLimit(1000, null)).toBeNull();
    expect(jobLimit(null, undefined)).toBeNull();
    expect(jobLimit(undefined, undefined)).toBeNull();
    expect(jobLimit(null, 700)).toBe(700);
  });

  it('the copy runs at the lowest limit that is set', () => {
    expect(effectiveLimit()).toBeUndefined();
    expect(effectiveLimit(null, undefined)).toBeUndefined();
    expect(effectiveLimit(5000, undefined)).toBe(5000);
    expect(effectiveLimit(null, 3000)).toBe(3000);
    expect(effectiveLimit(5000, 3000)).toBe(3000);
    expect(effectiveLimit(2000, 3000)).toBe(2000);
    // Nothing that is not a positive number counts as a limit.
    expect(effectiveLimit(0, -1, Number.NaN)).toBeUndefined();
  });
});
