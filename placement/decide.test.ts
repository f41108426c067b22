import { GB, monthlyCost, monthlyUsage, planCost } from './cost';
import { age, choose, decide, explain } from './decide';
import { defaultTiers } from './default-tiers';
import { DEFAULT_RULES, type DatasetSignals, type PlacementRules } from './types';
import type { UsageForecast } from './forecast';

const NOW = Date.UTC(2025, 0, 31, 12, 0, 0);
const S = 1000;
const DAY = 86_400 * S;
const tiers = defaultTiers('/data');

/** 100 GB, registered 30 days ago in hot, moved there 30 days ago, never read. */
function ds(over: Partial<DatasetSignals> = {}): DatasetSignals {
  return {
    id: 7,
    name: 'sample',
    path_uri: 'file:///shared_storage/sample',
    current_tier: 'hot',
    size_bytes: 100 * GB,
    latency_slo_ms: null,
    tier_since: NOW - 30 * DAY,
    created_at: NOW - 30 * DAY,
    last_access_ts: null,
    read_count: 0,
    write_count: 0,
    bytes_read: 0,
    bytes_written: 0,
    ...over,
  };
}
const policy = (over: Partial<PlacementRules> = {}): PlacementRules => ({
  ...DEFAULT_RULES,
  name: 'p',
  min_residency_s: 0,
  ...over,
});
const ago = (seconds: number) => NOW - seconds * S;
const rules = (d: ReturnType<typeof decide>) => d.inputs.steps.map((s) => s.rule);

describe('decide: recency', () => {
  it('recently read → hot, and a hot dataset stays where it is', () => {
    const d = decide(ds({ last_access_ts: ago(10) }), DEFAULT_RULES, tiers, NOW);
    expect(d.recommended_tier).toBe('hot');
    expect(d.action).toBe('stay');
    expect(d.target_location).toBe('file:///shared_storage/sample');
    expect(d.storage_class).toBe('standard');
    expect(d.reason).toBe(
      'Last accessed 10 s ago, within the 60 s hot window → hot. Keep in hot ($10.00/month). No trained model covers this dataset (POST /train trains one), so the recency heuristic decided.',
    );
    expect(d.model_version).toBe('heuristic-v1');
  });

  it('read 5 minutes ago → warm, resolved to the warm tier location', () => {
    const d = decide(ds({ last_access_ts: ago(300) }), DEFAULT_RULES, tiers, NOW);
    expect(d.recommended_tier).toBe('warm');
    expect(d.action).toBe('move');
    expect(d.target_location).toBe('file:///data/storage/warm/sample');
    expect(d.reason).toMatch(/^Last accessed 5 min ago, within the 10 min warm window → warm\./);
    expect(d.reason).toMatch(
      /Move from hot to warm \(\$1\.25\/month instead of \$10\.00\/month\): saves \$8\.75\/month; the move costs \$0\.000001, paid back in under a day\. No trained model covers this dataset \(POST \/train trains one\), so the recency heuristic decided\.$/,
    );
  });

  it('never accessed → cold, citing the saving, the move cost and the payback', () => {
    const d = decide(ds(), DEFAULT_RULES, tiers, NOW);
    expect(d.recommended_tier).toBe('cold');
    expect(d.target_location).toBe('file:///data/storage/cold/sample');
    expect(d.reason).toBe(
      'Never accessed → cold. Move from hot to cold ($0.4/month instead of $10.00/month): saves $9.60/month; the move costs $0.00001, paid back in under a day. No trained model covers this dataset (POST /train trains one), so the recency heuristic decided.',
    );
  });

  it('read long ago → cold', () => {
    const d = decide(ds({ last_access_ts: ago(7200) }), DEFAULT_RULES, tiers, NOW);
    expect(d.recommended_tier).toBe('cold');
    expect(d.reason).toMatch(/beyond the 10 min warm window → cold/);
  });

  it('thresholds come from the policy', () => {
    const p = policy({ hot_max_age_s: 3600, warm_max_age_s: 86_400 });
    expect(decide(ds({ last_access_ts: ago(300) }), p, tiers, NOW).recommended_tier).toBe('hot');
    expect(decide(ds({ last_access_ts: ago(7200) }), p, tiers, NOW).recommended_tier).toBe('warm');
  });

  it('target location uses {id} too', () => {
    const t = { ...tiers, cold: { ...tiers.cold, location_template: 's3://dim-cold/{id}-{name}' } };
    expect(decide(ds(), DEFAULT_RULES, t, NOW).target_location).toBe('s3://dim-cold/7-sample');
  });
});

describe('decide: pinned tier', () => {
  it('wins over recency', () => {
    const d = decide(ds({ last_access_ts: ago(1) }), policy({ pinned_tier: 'cold' }), tiers, NOW);
    expect(d.recommended_tier).toBe('cold');
    expect(d.reason).toMatch(/policy "p" pins it to cold/);
    expect(rules(d)).toEqual(['recency', 'pinned']);
  });

  it('wins over a latency SLO it breaks, and says so', () => {
    const d = decide(ds(), policy({ pinned_tier: 'cold', latency_slo_ms: 50 }), tiers, NOW);
    expect(d.recommended_tier).toBe('cold');
    expect(d.reason).toMatch(/although cold's 200 ms read latency breaks the 50 ms SLO/);
  });

  it('wins over minimum residency', () => {
    const d = decide(
      ds({ tier_since: ago(10), last_access_ts: ago(1) }),
      policy({ pinned_tier: 'warm', min_residency_s: 3600 }),
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('warm');
  });

  it('wins over a cost target', () => {
    const d = decide(
      ds({ current_tier: 'cold' }),
      policy({ pinned_tier: 'hot', cost_target_usd_month: 1 }),
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('hot');
    expect(rules(d)).toEqual(['recency', 'pinned']);
  });
});

describe('decide: latency SLO', () => {
  it('excludes a tier slower than the SLO and takes the cheapest that meets it', () => {
    const d = decide(ds(), policy({ latency_slo_ms: 50 }), tiers, NOW);
    expect(d.recommended_tier).toBe('warm');
    expect(d.reason).toMatch(
      /cold's 200 ms read latency breaks the 50 ms SLO; warm is the cheapest tier that meets it \(\$1\.25\/month\)/,
    );
  });

  it('"cheapest" is by the cost model, not the storage price alone', () => {
    // 1 GB read 1,000 times over: warm's retrieval fees make it dearer than hot.
    const busy = ds({
      size_bytes: GB,
      bytes_read: 1000 * GB,
      read_count: 1000,
      last_access_ts: ago(7200),
    });
    const d = decide(busy, policy({ latency_slo_ms: 50 }), tiers, NOW);
    expect(d.recommended_tier).toBe('hot');
    expect(d.inputs.cost_usd_month.warm).toBeGreaterThan(d.inputs.cost_usd_month.hot);
  });

  it('the dataset’s own SLO applies, and the stricter of the two wins', () => {
    expect(decide(ds({ latency_slo_ms: 50 }), DEFAULT_RULES, tiers, NOW).recommended_tier).toBe(
      'warm',
    );
    const d = decide(ds({ latency_slo_ms: 500 }), policy({ latency_slo_ms: 5 }), tiers, NOW);
    expect(d.recommended_tier).toBe('hot');
    expect(d.inputs.latency_slo_ms).toBe(5);
  });

  it('when no tier meets it, the fastest tier', () => {
    const d = decide(ds({ current_tier: 'cold' }), policy({ latency_slo_ms: 0.5 }), tiers, NOW);
    expect(d.recommended_tier).toBe('hot');
    expect(d.reason).toMatch(/no tier meets the 0\.5 ms SLO; hot is the fastest \(1 ms\)/);
  });

  it('an SLO every tier meets changes nothing', () => {
    const d = decide(ds(), policy({ latency_slo_ms: 1000 }), tiers, NOW);
    expect(d.recommended_tier).toBe('cold');
    expect(rules(d)).toEqual(['recency']);
  });
});

describe('decide: cost target', () => {
  it('over the target → the fastest tier within it', () => {
    const d = decide(
      ds({ last_access_ts: ago(1) }),
      policy({ cost_target_usd_month: 2 }),
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('warm');
    expect(d.reason).toMatch(
      /hot would cost \$10\.00\/month, over the \$2\.00 target; warm costs \$1\.25\/month/,
    );
  });

  it('no tier within the target → the cheapest cheaper tier', () => {
    const d = decide(
      ds({ last_access_ts: ago(1) }),
      policy({ cost_target_usd_month: 0.1 }),
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('cold');
    expect(d.reason).toMatch(/still over the target but the cheapest allowed/);
  });

  it('never picks a tier the SLO excludes (SLO before cost target)', () => {
    const p = policy({ cost_target_usd_month: 0.1, latency_slo_ms: 50 });
    expect(decide(ds({ last_access_ts: ago(1) }), p, tiers, NOW).recommended_tier).toBe('warm');
    const strict = policy({ cost_target_usd_month: 0.1, latency_slo_ms: 5 });
    const d = decide(ds({ last_access_ts: ago(1) }), strict, tiers, NOW);
    expect(d.recommended_tier).toBe('hot');
    expect(d.reason).toMatch(/over the \$0\.1 target, but no cheaper tier meets the SLO/);
  });

  it('under the target changes nothing', () => {
    const d = decide(
      ds({ last_access_ts: ago(1) }),
      policy({ cost_target_usd_month: 50 }),
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('hot');
    expect(rules(d)).toEqual(['recency']);
  });
});

describe('decide: minimum residency', () => {
  const recent = { current_tier: 'hot' as const, tier_since: ago(600) };

  it('keeps the current tier when it changed less than min_residency_s ago', () => {
    const d = decide(ds(recent), policy({ min_residency_s: 3600 }), tiers, NOW);
    expect(d.recommended_tier).toBe('hot');
    expect(d.action).toBe('stay');
    expect(d.reason).toMatch(
      /stays in hot: it has been there 10 min, less than the 60 min minimum residency/,
    );
  });

  it('lets it move once the residency has passed', () => {
    const d = decide(ds({ tier_since: ago(7200) }), policy({ min_residency_s: 3600 }), tiers, NOW);
    expect(d.recommended_tier).toBe('cold');
  });

  it('does not hold a dataset in a tier that breaks the SLO', () => {
    const d = decide(
      ds({ current_tier: 'cold', tier_since: ago(10) }),
      policy({ min_residency_s: 3600, latency_slo_ms: 50 }),
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('warm');
    expect(d.reason).toMatch(
      /cold breaks the SLO, so the 60 min minimum residency does not hold it/,
    );
  });

  it('runs after the cost target (stability wins over savings)', () => {
    const d = decide(
      ds({ ...recent, last_access_ts: ago(1) }),
      policy({ min_residency_s: 3600, cost_target_usd_month: 2 }),
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('hot');
    expect(rules(d)).toEqual(['recency', 'cost_target', 'min_residency']);
  });

  it('the built-in defaults hold nothing (the prototype rule alone)', () => {
    expect(decide(ds(recent), DEFAULT_RULES, tiers, NOW).recommended_tier).toBe('cold');
  });
});

describe('decide: break-even', () => {
  // 100 GB in warm, never read: cold would cost $0.40/month instead of $1.25 (saves $0.85),
  // and the move costs warm's retrieval, 100 GB × $0.01 = $1.00, plus 1 object × $0.01/1000
  // into cold: paid back in 1.00001 / (0.85 / (730/24)) = 35.8 days.
  const inWarm = (heldDays: number, over: Partial<DatasetSignals> = {}) =>
    ds({ current_tier: 'warm', tier_since: NOW - heldDays * DAY, ...over });

  it('refuses a move that does not pay back within the horizon (30 days)', () => {
    const d = decide(inWarm(100), DEFAULT_RULES, tiers, NOW);
    expect(d.recommended_tier).toBe('warm');
    expect(d.action).toBe('stay');
    expect(rules(d)).toEqual(['recency', 'break_even']);
    expect(d.inputs.break_even).toMatchObject({ to: 'cold', horizon_days: 30, pays_back: false });
    expect(d.inputs.break_even!.saving_usd_month).toBeCloseTo(0.85, 6);
    expect(d.inputs.break_even!.move_usd).toBeCloseTo(1.00001, 6);
    expect(d.inputs.break_even!.payback_days).toBeCloseTo(1.00001 / (0.85 / (730 / 24)), 3);
    expect(d.reason).toBe(
      'Never accessed → cold; moving to cold would save $0.85/month, but the move costs $1.00, not paid back within 30 days. Keep in warm ($1.25/month). No trained model covers this dataset (POST /train trains one), so the recency heuristic decided.',
    );
  });

  it('accepts it when it pays back within a longer horizon, and says in how many days', () => {
    const d = decide(inWarm(100), DEFAULT_RULES, tiers, NOW, 60);
    expect(d.recommended_tier).toBe('cold');
    expect(d.action).toBe('move');
    expect(d.inputs.break_even).toMatchObject({ to: 'cold', horizon_days: 60, pays_back: true });
    expect(d.reason).toBe(
      'Never accessed → cold. Move from warm to cold ($0.4/month instead of $1.25/month): saves $0.85/month; the move costs $1.00, paid back in 36 days. No trained model covers this dataset (POST /train trains one), so the recency heuristic decided.',
    );
  });

  it('counts the early-deletion charge of leaving a tier before its minimum storage days', () => {
    // 10 of warm's 30 days held: 20 days × 100 GB × $0.0125 / (730/24) = $0.8219 more.
    const early = 20 * 100 * 0.0125 * (24 / 730);
    const d = decide(inWarm(10), DEFAULT_RULES, tiers, NOW, 60);
    expect(d.inputs.break_even!.move_usd).toBeCloseTo(1.00001 + early, 6);
    expect(d.inputs.break_even!.pays_back).toBe(false);
    expect(d.recommended_tier).toBe('warm');
    expect(d.reason).toMatch(/the move costs \$1\.82, not paid back within 60 days/);
  });

  it('a move into a dearer tier does not pay back: a recent read alone does not bring cold data back', () => {
    const d = decide(
      ds({ current_tier: 'cold', last_access_ts: ago(5) }),
      DEFAULT_RULES,
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('cold');
    expect(d.reason).toMatch(/moving to hot would not save anything/);
  });

  it('heavy reads make the faster tier the cheaper one, and then it moves', () => {
    // 1 GB read 10,000 times in 30 days: cold's retrieval fees ($304/month) dwarf hot's storage.
    const d = decide(
      ds({
        current_tier: 'cold',
        size_bytes: GB,
        last_access_ts: ago(5),
        read_count: 10_000,
        bytes_read: 10_000 * GB,
        tier_since: ago(100 * 86_400),
      }),
      DEFAULT_RULES,
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('hot');
    expect(d.inputs.break_even!.pays_back).toBe(true);
  });

  it('respects the SLO: a current tier that breaks it is left whatever the break-even says', () => {
    const d = decide(
      ds({ current_tier: 'cold', tier_since: ago(86_400) }),
      policy({ latency_slo_ms: 50 }),
      tiers,
      NOW,
    );
    expect(d.recommended_tier).toBe('warm');
    expect(d.inputs.break_even!.pays_back).toBe(false);
    expect(d.reason).toMatch(/: costs \$0\.85\/month more; the move costs \$\d/);
  });

  it('never moves into a tier the SLO excludes to save money', () => {
    const d = decide(inWarm(100), policy({ latency_slo_ms: 50 }), tiers, NOW, 1000);
    expect(d.recommended_tier).toBe('warm');
    expect(d.inputs.break_even).toBeNull();
  });

  it('a pinned tier still wins', () => {
    const d = decide(inWarm(1), policy({ pinned_tier: 'cold' }), tiers, NOW);
    expect(d.recommended_tier).toBe('cold');
    expect(d.inputs.break_even!.pays_back).toBe(false);
    expect(rules(d)).toEqual(['recency', 'pinned']);
  });

  it('is the same break-even as planCost (the dry run) computes', () => {
    const signals = inWarm(10, { object_count: 40, read_count: 7, bytes_read: 3 * GB });
    const d = decide(signals, DEFAULT_RULES, tiers, NOW, 60);
    const p = planCost(signals, tiers, 'cold', NOW, 60);
    expect(d.inputs.break_even!.move_usd).toBeCloseTo(p.move_usd, 6);
    expect(d.inputs.break_even!.saving_usd_month).toBeCloseTo(p.saving_usd_month, 6);
    expect(d.inputs.break_even!.pays_back).toBe(p.pays_back);
  });

  it('counts one write request per object', () => {
    const d = decide(ds({ object_count: 1_000_000 }), DEFAULT_RULES, tiers, NOW);
    // 1,000,000 objects × $0.01 / 1000 into cold.
    expect(d.inputs.break_even!.move_usd).toBeCloseTo(10, 6);
    expect(d.inputs.break_even!.pays_back).toBe(false);
    expect(d.recommended_tier).toBe('hot');
  });
});

describe('decide: inputs', () => {
  it('records the signals, the policy and every rule that acted', () => {
    const d = decide(
      ds({
        last_access_ts: ago(30),
        read_count: 30,
        bytes_read: 3 * GB,
        created_at: ago(10 * 86_400),
      }),
      policy({ latency_slo_ms: 50, cost_target_usd_month: 2 }),
      tiers,
      NOW,
    );
    expect(d.inputs).toMatchObject({
      last_access_age_s: 30,
      size_bytes: 100 * GB,
      read_count: 30,
      observed_days: 10,
      reads_per_month: 91.25,
      latency_slo_ms: 50,
      policy: 'p',
      cost_target_usd_month: 2,
      hot_max_age_s: 60,
      warm_max_age_s: 600,
      min_residency_s: 0,
      pinned_tier: null,
    });
    expect(d.inputs.cost_usd_month.hot).toBeCloseTo(10);
    expect(d.inputs.steps.map((s) => [s.rule, s.tier])).toEqual([
      ['recency', 'hot'],
      ['cost_target', 'warm'],
    ]);
    expect(JSON.parse(JSON.stringify(d.inputs))).toEqual(d.inputs);
  });
});

describe('decide: cost model', () => {
  it('projects the same monthly costs as cost.ts', () => {
    const signals = ds({
      read_count: 5000,
      write_count: 700,
      bytes_read: 300 * GB,
      created_at: ago(12 * 86_400),
      last_access_ts: ago(5),
    });
    const t = { ...tiers, warm: { ...tiers.warm, egress_gb: 0.09 } };
    const d = decide(signals, DEFAULT_RULES, t, NOW);
    const usage = monthlyUsage(signals, signals.created_at, NOW);
    for (const name of ['hot', 'warm', 'cold'] as const) {
      expect(d.inputs.cost_usd_month[name]).toBeCloseTo(monthlyCost(t[name], usage).total, 5);
    }
  });
});

describe('choose and explain', () => {
  it('choose gives the advice alone; explain adds the same reason and inputs as decide', () => {
    const cases: Array<[ReturnType<typeof ds>, PlacementRules]> = [
      [ds({ last_access_ts: ago(10) }), DEFAULT_RULES],
      [ds({ last_access_ts: ago(300), latency_slo_ms: 5 }), policy({ min_residency_s: 0 })],
      [ds({ tier_since: ago(30) }), policy({ min_residency_s: 3600 })],
      [ds({ last_access_ts: ago(5) }), policy({ cost_target_usd_month: 2 })],
      [ds(), policy({ pinned_tier: 'hot', latency_slo_ms: 0.5 })],
    ];
    for (const [signals, r] of cases) {
      const c = choose(signals, r, tiers, NOW);
      const d = decide(signals, r, tiers, NOW);
      expect(c).not.toHaveProperty('reason');
      expect(c).toMatchObject({
        recommended_tier: d.recommended_tier,
        action: d.action,
        target_location: d.target_location,
        storage_class: d.storage_class,
        model_version: d.model_version,
      });
      expect(explain(c)).toEqual(d);
    }
  });
});

describe('age', () => {
  it.each([
    [5, '5 s'],
    [119, '119 s'],
    [600, '10 min'],
    [7200, '2 h'],
    [3 * 86_400, '3 d'],
  ])('%s s → %s', (s, text) => expect(age(s)).toBe(text));
});

describe('decide with a forecast (a trained model)', () => {
  const fc = (over: Partial<UsageForecast> = {}): UsageForecast => ({
    model_version: 'm-20260105T000000Z',
    reads_per_hour: 0,
    read_bytes_per_hour: 0,
    writes_per_hour: 0,
    p_access: 0,
    horizon_hours: 168,
    ...over,
  });

  it('takes the usage from the forecast and chooses the cheapest tier: heavy reads keep a never-read dataset hot', () => {
    // 2 GB read an hour = 1,460 GB a month: warm would cost $1.25 + $14.60, hot $10.
    const f = fc({ reads_per_hour: 2, read_bytes_per_hour: 2 * GB, p_access: 1 });
    const d = decide(ds(), DEFAULT_RULES, tiers, NOW, undefined, f);
    expect(d.recommended_tier).toBe('hot');
    expect(d.action).toBe('stay');
    expect(d.model_version).toBe('m-20260105T000000Z');
    expect(rules(d)).toEqual(['forecast']);
    expect(d.inputs.reads_per_month).toBe(1460);
    expect(d.inputs.forecast).toEqual(f);
    expect(d.inputs.cost_usd_month.warm).toBeCloseTo(15.85146, 6);
    expect(d.reason).toBe(
      'Model m-20260105T000000Z forecasts 2 reads/hour (2 GB/hour), 0 writes/hour, 100% chance of access within 7 d → hot is the cheapest ($10.00/month). Keep in hot ($10.00/month).',
    );
    expect(d.reason).not.toMatch(/No trained model/);
  });

  it('the recency windows are not used: a just-read dataset the model expects quiet goes cold', () => {
    const d = decide(ds({ last_access_ts: ago(5) }), DEFAULT_RULES, tiers, NOW, undefined, fc());
    expect(d.recommended_tier).toBe('cold');
    expect(d.action).toBe('move');
    expect(rules(d)).toEqual(['forecast']);
    expect(d.reason).toMatch(
      /^Model m-20260105T000000Z forecasts 0 reads\/hour \(0 B\/hour\), 0 writes\/hour, 0% chance of access within 7 d → cold is the cheapest \(\$0\.4\/month\)\. Move from hot to cold/,
    );
  });

  it('moderate reads: warm, and the cost model is the one formula (monthlyCost of the forecast usage)', () => {
    const f = fc({ reads_per_hour: 1, read_bytes_per_hour: 1 * GB, p_access: 0.9 });
    const d = decide(ds(), DEFAULT_RULES, tiers, NOW, undefined, f);
    expect(d.recommended_tier).toBe('warm');
    const usage = {
      size_bytes: 100 * GB,
      reads_per_month: 730,
      writes_per_month: 0,
      bytes_read_per_month: 730 * GB,
    };
    expect(d.inputs.cost_usd_month.warm).toBeCloseTo(monthlyCost(tiers.warm, usage).total, 6);
    expect(d.inputs.cost_usd_month.cold).toBeCloseTo(monthlyCost(tiers.cold, usage).total, 6);
  });

  it('the SLO still holds: the cheapest tier that meets it', () => {
    const d = decide(ds({ latency_slo_ms: 50 }), DEFAULT_RULES, tiers, NOW, undefined, fc());
    expect(d.recommended_tier).toBe('warm');
    expect(d.reason).toMatch(/→ warm is the cheapest tier meeting the 50 ms SLO/);
    const none = decide(ds({ latency_slo_ms: 0.5 }), DEFAULT_RULES, tiers, NOW, undefined, fc());
    expect(none.recommended_tier).toBe('hot');
    expect(none.reason).toMatch(/no tier meets the 0\.5 ms SLO → hot, the fastest/);
  });

  it('a pinned tier, the cost target, minimum residency and break-even still apply', () => {
    const pinned = decide(ds(), policy({ pinned_tier: 'hot' }), tiers, NOW, undefined, fc());
    expect(pinned.recommended_tier).toBe('hot');
    expect(rules(pinned)).toEqual(['forecast', 'pinned']);

    const held = decide(
      ds({ tier_since: ago(60) }),
      policy({ min_residency_s: 3600 }),
      tiers,
      NOW,
      undefined,
      fc(),
    );
    expect(held.recommended_tier).toBe('hot');
    expect(rules(held)).toEqual(['forecast', 'min_residency']);

    // Warm for a day: leaving it early bills 29 more days, more than cold saves in 30.
    const early = decide(
      ds({ current_tier: 'warm', tier_since: NOW - DAY }),
      DEFAULT_RULES,
      tiers,
      NOW,
      undefined,
      fc(),
    );
    expect(early.recommended_tier).toBe('warm');
    expect(rules(early)).toEqual(['forecast', 'break_even']);
    expect(early.reason).toMatch(/not paid back within 30 days\. Keep in warm/);
    expect(early.model_version).toBe('m-20260105T000000Z');

    const target = decide(
      ds(),
      policy({ cost_target_usd_month: 5 }),
      tiers,
      NOW,
      undefined,
      fc({ reads_per_hour: 2, read_bytes_per_hour: 2 * GB }),
    );
    expect(rules(target)).toEqual(['forecast', 'cost_target']);
  });

  it('without a forecast: the heuristic, heuristic-v1, and the reason says there is no trained model', () => {
    for (const f of [undefined, null]) {
      const d = decide(ds(), DEFAULT_RULES, tiers, NOW, undefined, f);
      expect(d.model_version).toBe('heuristic-v1');
      expect(rules(d)[0]).toBe('recency');
      expect(d.inputs.forecast).toBeNull();
      expect(d.reason).toMatch(
        /No trained model covers this dataset \(POST \/train trains one\), so the recency heuristic decided\.$/,
      );
    }
  });
});
