import { GB, MONTH_DAYS, breakEven, days, monthlyCost, monthlyUsage, moveCost, usd } from './cost';
import { defaultTiers } from './default-tiers';

const tiers = defaultTiers('/data');
const DAY = 86_400_000;

describe('monthlyUsage', () => {
  it('scales lifetime totals to a 730-hour month', () => {
    const u = monthlyUsage(
      { size_bytes: 5, read_count: 100, write_count: 10, bytes_read: 1000 },
      0,
      10 * DAY,
    );
    expect(MONTH_DAYS).toBeCloseTo(30.416667, 5);
    expect(u.observed_days).toBe(10);
    expect(u.reads_per_month).toBeCloseTo(304.1667, 4);
    expect(u.writes_per_month).toBeCloseTo(30.41667, 4);
    expect(u.bytes_read_per_month).toBeCloseTo(3041.667, 3);
    expect(u.size_bytes).toBe(5);
  });

  it('stretches histories shorter than a day to a day', () => {
    const u = monthlyUsage(
      { size_bytes: 0, read_count: 10, write_count: 0, bytes_read: 0 },
      0,
      60_000,
    );
    expect(u.observed_days).toBe(1);
    expect(u.reads_per_month).toBeCloseTo(304.1667, 4);
  });
});

describe('monthlyCost', () => {
  // 100 GB (10^9 bytes each), 10,000 reads and 50 GB read a month.
  const usage = {
    size_bytes: 100 * GB,
    reads_per_month: 10_000,
    writes_per_month: 0,
    bytes_read_per_month: 50 * GB,
  };

  it('hot: storage only (100 GB × $0.10)', () => {
    const c = monthlyCost(tiers.hot, usage);
    expect(GB).toBe(1e9);
    expect(c.storage).toBeCloseTo(10);
    expect(c.retrieval).toBe(0);
    expect(c.requests).toBe(0);
    expect(c.egress).toBe(0);
    expect(c.total).toBeCloseTo(10);
  });

  it('cold: storage 100 × 0.004, retrieval 50 × 0.03, requests 10 × 0.01', () => {
    const c = monthlyCost(tiers.cold, usage);
    expect(c.storage).toBeCloseTo(0.4);
    expect(c.retrieval).toBeCloseTo(1.5);
    expect(c.requests).toBeCloseTo(0.1);
    expect(c.total).toBeCloseTo(2.0);
  });

  it('egress is charged per GB read (50 × 0.09)', () => {
    const c = monthlyCost({ ...tiers.hot, egress_gb: 0.09 }, usage);
    expect(c.egress).toBeCloseTo(4.5);
    expect(c.total).toBeCloseTo(14.5);
  });

  it('writes are requests too', () => {
    const c = monthlyCost(tiers.cold, { ...usage, reads_per_month: 0, writes_per_month: 2000 });
    expect(c.requests).toBeCloseTo(0.02);
  });

  it('a heavily read dataset can cost more in cold than in hot', () => {
    const busy = { ...usage, size_bytes: GB, bytes_read_per_month: 1000 * GB };
    expect(monthlyCost(tiers.cold, busy).total).toBeGreaterThan(monthlyCost(tiers.hot, busy).total);
  });
});

describe('moveCost', () => {
  const ds = { size_bytes: 100 * GB, object_count: 50 };

  it('retrieval out of the source: 100 GB × $0.03 from cold', () => {
    const m = moveCost(tiers.cold, tiers.hot, ds, 365);
    expect(m.retrieval).toBeCloseTo(3);
    expect(m.egress).toBe(0);
    expect(m.requests).toBe(0);
    expect(m.early_deletion).toBe(0);
    expect(m.total).toBeCloseTo(3);
  });

  it('egress out of the source: 100 GB × $0.09', () => {
    const m = moveCost({ ...tiers.hot, egress_gb: 0.09 }, tiers.warm, ds, 365);
    expect(m.egress).toBeCloseTo(9);
  });

  it('write requests into the destination: 50 objects × $0.01 / 1000', () => {
    const m = moveCost(tiers.hot, tiers.cold, ds, 0);
    expect(m.requests).toBeCloseTo(0.0005, 10);
    expect(m.total).toBeCloseTo(0.0005, 10);
  });

  it('early deletion: leaving cold after 30 of its 90 days bills the other 60', () => {
    const m = moveCost(tiers.cold, tiers.hot, ds, 30);
    expect(m.early_deletion_days).toBe(60);
    // 100 GB × $0.004 × 60 days / (730 / 24) days = 576 / 730.
    expect(m.early_deletion).toBeCloseTo(576 / 730, 10);
    expect(m.total).toBeCloseTo(3 + 576 / 730, 10);
  });

  it('no early deletion once the minimum has passed, or from a tier without one', () => {
    expect(moveCost(tiers.cold, tiers.hot, ds, 90).early_deletion).toBe(0);
    expect(moveCost(tiers.hot, tiers.cold, ds, 0).early_deletion).toBe(0);
  });
});

describe('breakEven', () => {
  it('saves $12.40/month, the move costs $3.10: paid back in 7.6 days', () => {
    const b = breakEven(15, 2.6, 3.1);
    expect(b.saving_usd_month).toBeCloseTo(12.4);
    expect(b.payback_days).toBeCloseTo(3.1 / (12.4 / MONTH_DAYS), 10);
    expect(b.payback_days).toBeCloseTo(7.604, 3);
    expect(b.horizon_days).toBe(30);
    expect(b.pays_back).toBe(true);
  });

  it('a saving too small for the horizon does not pay back', () => {
    // $0.10/month against $3.10: 943 days.
    const b = breakEven(1, 0.9, 3.1);
    expect(b.payback_days).toBeCloseTo(942.9, 1);
    expect(b.pays_back).toBe(false);
    expect(breakEven(1, 0.9, 3.1, 1000).pays_back).toBe(true);
  });

  it('a move that costs more per month never pays back', () => {
    const b = breakEven(1, 2, 0);
    expect(b.saving_usd_month).toBe(-1);
    expect(b.payback_days).toBeNull();
    expect(b.pays_back).toBe(false);
  });

  it('a free move with any saving pays back at once', () => {
    expect(breakEven(2, 1, 0)).toMatchObject({ payback_days: 0, pays_back: true });
  });
});

describe('usd and days', () => {
  it.each([
    [0, '$0'],
    [12.345, '$12.35'],
    [1, '$1.00'],
    [0.0042123, '$0.0042'],
    [0.5, '$0.5'],
  ])('%s → %s', (v, s) => expect(usd(v)).toBe(s));

  it.each([
    [0, 'under a day'],
    [7.604, '7.6 days'],
    [35.8, '36 days'],
  ])('%s days → %s', (d, s) => expect(days(d)).toBe(s));
});
