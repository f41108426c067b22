import {
  DEFAULT_FORECAST_PARAMS,
  HOUR_MS,
  PERIOD_HOURS,
  accuracyOf,
  emptyScore,
  forecast,
  hourlyReads,
  lastValue,
  newUsageState,
  observe,
  scoreHoldout,
  type ForecastParams,
  type UsageState,
} from './forecast';

/** Monday 5 January 2026, 00:00 UTC. */
const T0 = Date.UTC(2026, 0, 5);
const at = (h: number) => T0 + h * HOUR_MS;
const model = { version: 'm-test', params: DEFAULT_FORECAST_PARAMS };

/** Folds `reads(h)` for hours 0..hours-1 (only the hours with reads, as access_aggregates holds them). */
function fold(
  hours: number,
  reads: (h: number) => number,
  p = DEFAULT_FORECAST_PARAMS,
): UsageState {
  const s = newUsageState(T0);
  for (let h = 0; h < hours; h++) {
    const r = reads(h);
    if (r > 0) observe(s, { hour: at(h), read_count: r, write_count: 0, bytes_read: r * 1e6 }, p);
  }
  return s;
}

const businessHours = (h: number) => (h % 24 >= 9 && h % 24 < 17 ? 10 : 0);

describe('forecast', () => {
  it('learns a daily profile from a diurnal series: working hours forecast far above nights', () => {
    const s = fold(28 * 24, businessHours);
    const day = hourlyReads(s, at(28 * 24), at(29 * 24));
    expect(day).toHaveLength(24);
    const work = day.slice(9, 17);
    const night = [...day.slice(0, 9), ...day.slice(17)];
    expect(Math.min(...work)).toBeGreaterThan(8);
    expect(Math.max(...night)).toBeLessThan(1);
    // Averaged over a week, the rate is the series' mean, 80 reads a day.
    const f = forecast(s, at(28 * 24), 168, model);
    expect(f.reads_per_hour).toBeCloseTo(80 / 24, 0);
    expect(f.read_bytes_per_hour).toBeCloseTo(f.reads_per_hour * 1e6, -2);
    expect(f.model_version).toBe('m-test');
    expect(f.horizon_hours).toBe(168);
  });

  it('learns a weekly profile: weekdays forecast above weekends', () => {
    // Weekdays (Mon..Fri: days 0..4 from T0) 4 reads an hour, weekends none.
    const s = fold(28 * 24, (h) => (Math.floor(h / 24) % 7 < 5 ? 4 : 0));
    const week = hourlyReads(s, at(28 * 24), at(35 * 24));
    const monday = week.slice(0, 24);
    const saturday = week.slice(5 * 24, 6 * 24);
    expect(Math.min(...monday)).toBeGreaterThan(3);
    expect(Math.max(...saturday)).toBeLessThan(1);
  });

  it('decays: a dataset that went quiet forecasts a lower rate, the longer it stays quiet', () => {
    const busy = fold(28 * 24, () => 5);
    const quiet = fold(28 * 24, (h) => (h < 14 * 24 ? 5 : 0));
    const now = at(28 * 24);
    const fBusy = forecast(busy, now, 24, model);
    const fQuiet = forecast(quiet, now, 24, model);
    expect(fBusy.reads_per_hour).toBeCloseTo(5, 1);
    expect(fQuiet.reads_per_hour).toBeLessThan(fBusy.reads_per_hour / 2);
    // Later, without new buckets, lower still: the hours since count as quiet.
    const later = forecast(quiet, now + 14 * 24 * HOUR_MS, 24, model);
    expect(later.reads_per_hour).toBeLessThan(fQuiet.reads_per_hour / 2);
    // forecast does not change the state.
    expect(forecast(quiet, now, 24, model)).toEqual(fQuiet);
  });

  it('p_access: 0 never accessed, ~1 read every hour, in between for a weekly reader, growing with the horizon', () => {
    const now = at(28 * 24);
    expect(forecast(newUsageState(T0), now, 168, model).p_access).toBe(0);
    expect(
      forecast(
        fold(28 * 24, () => 1),
        now,
        24,
        model,
      ).p_access,
    ).toBeGreaterThan(0.999);
    const weekly = fold(28 * 24, (h) => (h % 168 === 10 ? 3 : 0));
    const day = forecast(weekly, now, 24, model).p_access;
    const week = forecast(weekly, now, 168, model).p_access;
    const month = forecast(weekly, now, 720, model).p_access;
    expect(day).toBeGreaterThan(0);
    expect(day).toBeLessThan(week);
    expect(week).toBeLessThan(month);
    expect(month).toBeLessThan(1);
  });

  it('counts writes and bytes, and merges two buckets of one hour', () => {
    const s = newUsageState(at(0));
    observe(s, { hour: at(0), read_count: 1, write_count: 2, bytes_read: 100 });
    observe(s, { hour: at(0), read_count: 3, write_count: 0, bytes_read: 300 });
    expect(s.end).toBe(Math.floor(at(1) / HOUR_MS));
    expect(lastValue(s)).toBe(4);
    const f = forecast(s, at(1), 1, model);
    expect(f.reads_per_hour).toBeCloseTo(4, 6);
    expect(f.writes_per_hour).toBeCloseTo(2, 6);
    expect(f.read_bytes_per_hour).toBeCloseTo(400, 4);
    // An hour later with no bucket, the naive last value is 0.
    observe(s, { hour: at(2), read_count: 0, write_count: 1, bytes_read: 0 });
    expect(lastValue(s)).toBe(0);
  });

  it('scores a held-out window against the naive last value: WAPE and MAE on a hand-made case', () => {
    // No decay and no seasonality, so the model's forecast is the plain mean.
    const flat: ForecastParams = {
      level_half_life_h: 1e12,
      profile_half_life_h: 1e12,
      season_prior: 1e12,
      horizon_hours: 3,
    };
    // 48 training hours: 2 reads each, but 8 in the last one. Mean 102/48 = 2.125; naive 8.
    const s = fold(48, (h) => (h === 47 ? 8 : 2), flat);
    expect(lastValue(s)).toBe(8);
    // Holdout: 3 hours with 2, 0 (no bucket) and 5 reads.
    const actual = [
      { hour: at(48), read_count: 2, write_count: 0, bytes_read: 0 },
      { hour: at(50), read_count: 5, write_count: 0, bytes_read: 0 },
    ];
    const score = scoreHoldout(s, actual, at(48), at(51), flat);
    // model: |2.125-2| + |2.125-0| + |2.125-5| = 0.125 + 2.125 + 2.875 = 5.125
    // naive: |8-2| + |8-0| + |8-5| = 6 + 8 + 3 = 17
    expect(score.hours).toBe(3);
    expect(score.actual_reads).toBe(7);
    expect(score.model_abs_error).toBeCloseTo(5.125, 4);
    expect(score.naive_abs_error).toBe(17);
    const acc = accuracyOf(score);
    expect(acc.metric).toBe('wape_hourly_reads');
    expect(acc.model_wape).toBeCloseTo(5.125 / 7, 4);
    expect(acc.naive_wape).toBeCloseTo(17 / 7, 6);
    expect(acc.model_mae).toBeCloseTo(5.125 / 3, 4);
    expect(acc.naive_mae).toBeCloseTo(17 / 3, 6);
  });

  it('scores add up over datasets; nothing read in the holdout gives null WAPE', () => {
    const score = emptyScore();
    scoreHoldout(
      fold(24, () => 0),
      [],
      at(24),
      at(30),
      DEFAULT_FORECAST_PARAMS,
      score,
    );
    scoreHoldout(
      fold(24, () => 0),
      [],
      at(24),
      at(30),
      DEFAULT_FORECAST_PARAMS,
      score,
    );
    expect(score.hours).toBe(12);
    const acc = accuracyOf(score);
    expect(acc.model_wape).toBeNull();
    expect(acc.model_mae).toBe(0);
    expect(acc.naive_mae).toBe(0);
  });

  it('on a diurnal series the model beats the naive last value', () => {
    const s = fold(21 * 24 + 12, businessHours); // training ends at noon, mid working hours
    const actual = [];
    for (let h = 21 * 24 + 12; h < 24 * 24; h++) {
      const r = businessHours(h);
      if (r > 0) actual.push({ hour: at(h), read_count: r, write_count: 0, bytes_read: 0 });
    }
    const acc = accuracyOf(scoreHoldout(s, actual, at(21 * 24 + 12), at(24 * 24)));
    expect(acc.model_wape!).toBeLessThan(acc.naive_wape!);
  });

  it('a history shorter than the weekly period counts as a full period: one read is not a daily rate', () => {
    // A weekly job's first read: 100 reads in hour 0 (Monday), forecast a day later over a week.
    const s = fold(1, () => 100);
    const rl = Math.pow(0.5, 1 / DEFAULT_FORECAST_PARAMS.level_half_life_h);
    const geometric = (n: number) => (1 - Math.pow(rl, n)) / (1 - rl);
    const decayed = 100 * Math.pow(rl, 23); // the read, decayed from hour 0 to hour 24
    // The horizon (168 h) covers each hour of the week once, so its mean seasonal factor is 1.
    // Divided by a week of exposure (PERIOD_HOURS), not the 24 h observed: 0.75 reads/hour, not 4.
    const f = forecast(s, at(24), 168, model);
    expect(PERIOD_HOURS).toBe(168);
    expect(f.reads_per_hour).toBeCloseTo(decayed / geometric(168), 9);
    expect(decayed / geometric(24)).toBeGreaterThan(3.9);
    expect(f.reads_per_hour).toBeLessThan(0.76);
    // A horizon of a day needs a day of evidence: the 24 h observed are enough.
    const day = forecast(s, at(24), 24, model);
    const dayMean = hourlyReads(s, at(24), at(48)).reduce((a, b) => a + b, 0) / 24;
    expect(day.reads_per_hour).toBeCloseTo(dayMean, 9);
    // Past a week of history the floor no longer binds: the level's own exposure counts.
    const old = forecast(s, at(30 * 24), 168, model);
    const decayed30 = 100 * Math.pow(rl, 30 * 24 - 1);
    expect(old.reads_per_hour).toBeCloseTo(decayed30 / geometric(30 * 24), 9);
  });
});
