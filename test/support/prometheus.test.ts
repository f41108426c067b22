import {
  conventionProblems,
  labelNames,
  parseExposition,
  promqlUses,
  seriesNames,
  value,
} from './prometheus';

/** The test helpers that check metrics must themselves catch what they are meant to. */
describe('parseExposition', () => {
  const text = [
    '# HELP a_total Things.',
    '# TYPE a_total counter',
    'a_total{route="/jobs/:job_id",q="say \\"hi\\"\\\\"} 3',
    'a_total{route="/datasets"} 4 1700000000000',
    '# HELP h_seconds Time.',
    '# TYPE h_seconds histogram',
    'h_seconds_bucket{le="0.1",route="/a"} 1',
    'h_seconds_bucket{le="+Inf",route="/a"} 2',
    'h_seconds_sum{route="/a"} 0.5',
    'h_seconds_count{route="/a"} 2',
    'h_seconds_bucket{le="+Inf",route="/b"} 1',
    'h_seconds_sum{route="/b"} 0.1',
    'h_seconds_count{route="/b"} 1',
    '# TYPE g gauge',
    'g Nan',
    '',
  ].join('\n');

  it('reads families, every label set of a histogram, escapes, NaN and timestamps', () => {
    const m = parseExposition(text);
    expect(value(m, 'a_total')).toBe(7);
    expect(value(m, 'a_total', { q: 'say "hi"\\' })).toBe(3);
    expect(value(m, 'h_seconds', { route: '/a' })).toBe(2);
    expect(value(m, 'h_seconds')).toBe(3);
    expect([...labelNames(m.get('h_seconds')!)].sort()).toEqual(['le', 'route']);
    expect(seriesNames(m.get('h_seconds')!)).toEqual([
      'h_seconds_bucket',
      'h_seconds_sum',
      'h_seconds_count',
    ]);
    expect(value(m, 'g')).toBeNaN();
    expect(value(m, 'missing')).toBeUndefined();
  });

  it('refuses malformed lines and samples without their TYPE', () => {
    expect(() => parseExposition('# TYPE x counter\nx{a=1} 2\n')).toThrow(/bad labels/);
    expect(() => parseExposition('y 1\n')).toThrow(/without its # TYPE/);
    expect(() => parseExposition('# TYPE x gauge\nx one\n')).toThrow(/bad value/);
    expect(() => parseExposition('# TYPE x gauge\nx{a="1",a="2"} 1\n')).toThrow(/twice/);
  });
});

describe('conventionProblems', () => {
  const problems = (text: string) =>
    [...parseExposition(text).values()].flatMap((f) => conventionProblems(f));

  it('names what breaks the conventions', () => {
    expect(problems('# HELP c c\n# TYPE c counter\nc 1\n')).toEqual([
      'c: a counter must end in _total',
    ]);
    expect(problems('# HELP g_total g\n# TYPE g_total gauge\ng_total 1\n')).toEqual([
      'g_total: only counters end in _total',
    ]);
    expect(problems('# HELP d d\n# TYPE d histogram\nd_count 1\n')).toEqual([
      'd: a histogram must name its base unit (_seconds, _bytes)',
    ]);
    expect(problems('# HELP t_ms t\n# TYPE t_ms gauge\nt_ms 1\n')).toEqual([
      't_ms: use base units (seconds, bytes)',
    ]);
    expect(problems('# TYPE ok_bytes gauge\nok_bytes 1\n')).toEqual(['ok_bytes: no HELP text']);
    expect(problems('# HELP x_seconds x\n# TYPE x_seconds histogram\nx_seconds_count 1\n')).toEqual(
      [],
    );
  });
});

describe('promqlUses', () => {
  it('finds the metrics selected and the labels grouped by or matched, not functions', () => {
    expect(
      promqlUses(
        'histogram_quantile(0.95, sum by (le, route) (rate(dim_x_seconds_bucket{status=~"5.."}[$__rate_interval]))) / on() group_left up',
      ),
    ).toEqual({ metrics: ['dim_x_seconds_bucket', 'up'], labels: ['le', 'route', 'status'] });
  });

  it('refuses what Prometheus would not parse', () => {
    expect(() => promqlUses('sum(rate(x[5m])')).toThrow(/not valid PromQL/);
  });
});
