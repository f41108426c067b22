import { GB, monthlyCost, monthlyUsage, usd } from './cost';
import { defaultTiers } from './default-tiers';

const tiers = defaultTiers('/data');
const DAY = 86_400_000;

describe('monthlyUsage', () => {
  it('scales lifetime totals to 30 days', () => {
    const u = monthlyUsage(
      { size_bytes: 5, read_count: 100, write_count: 10, bytes_read: 1000 },
      0,
      10 * DAY,
    );
    expect(u.observed_days).toBe(10);
    expect(u.reads_per_month).toBe(300);
    expect(u.writes_per_month).toBe(30);
    expect(u.bytes_read_per_month).toBe(3000);
    expect(u.size_bytes).toBe(5);
  });

  it('stretches histories shorter than a day to a day', () => {
    const u = monthlyUsage(
      { size_bytes: 0, read_count: 10, write_count: 0, bytes_read: 0 },
      0,
      60_000,
    );
    expect(u.observed_days).toBe(1);
    expect(u.reads_per_month).toBe(300);
  });
});

describe('monthlyCost', () => {
  const usage = {
    size_bytes: 100 * GB,
    reads_per_month: 10_000,
    writes_per_month: 0,
    bytes_read_per_month: 50 * GB,
  };

  it('hot: storage only', () => {
    const c = monthlyCost(tiers.hot, usage);
    expect(c.storage).toBeCloseTo(10);
    expect(c.retrieval).toBe(0);
    expect(c.requests).toBe(0);
    expect(c.total).toBeCloseTo(10);
    expect(c.commitment).toBe(0);
  });

  it('cold: storage, retrieval, requests, and the 90-day commitment', () => {
    const c = monthlyCost(tiers.cold, usage);
    expect(c.storage).toBeCloseTo(0.4);
    expect(c.retrieval).toBeCloseTo(1.5);
    expect(c.requests).toBeCloseTo(0.1);
    expect(c.total).toBeCloseTo(2.0);
    expect(c.commitment).toBeCloseTo(1.2);
  });

  it('egress is charged per GB read', () => {
    const c = monthlyCost({ ...tiers.hot, egress_gb: 0.09 }, usage);
    expect(c.egress).toBeCloseTo(4.5);
    expect(c.total).toBeCloseTo(14.5);
  });

  it('a heavily read dataset can cost more in cold than in hot', () => {
    const busy = { ...usage, size_bytes: GB, bytes_read_per_month: 1000 * GB };
    expect(monthlyCost(tiers.cold, busy).total).toBeGreaterThan(monthlyCost(tiers.hot, busy).total);
  });
});

describe('usd', () => {
  it.each([
    [0, '$0'],
    [12.345, '$12.35'],
    [1, '$1.00'],
    [0.0042123, '$0.0042'],
    [0.5, '$0.5'],
  ])('%s → %s', (v, s) => expect(usd(v)).toBe(s));
});
