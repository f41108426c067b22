import { parser } from '@prometheus-io/lezer-promql';

/**
 * Scraping and checking Prometheus metrics in tests: the text exposition format (0.0.4)
 * parsed strictly here (parse-prometheus-text-format 1.1.1 merges the label sets of a
 * histogram into one, so it cannot check them), PromQL (the Grafana dashboard's queries)
 * by Prometheus' own lezer grammar.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The series name: the family's, or with `_bucket`, `_sum`, `_count`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

export interface Scrape {
  families: Map<string, MetricFamily>;
  text: string;
  contentType: string;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL_PAIR = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL_PAIR.lastIndex = 0;
  while (LABEL_PAIR.lastIndex < text.length) {
    const m = LABEL_PAIR.exec(text);
    if (!m) throw new Error(`bad labels in: ${line}`);
    if (m[1]! in labels) throw new Error(`label ${m[1]} twice in: ${line}`);
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** The family a series belongs to: `x_bucket` of histogram `x` is `x`. */
function familyOf(series: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const own = families.get(series);
  if (own) return own;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  const f = m ? families.get(m[1]!) : undefined;
  if (!f) return undefined;
  if (f.type === 'histogram' || (f.type === 'summary' && m![2] !== 'bucket')) return f;
  return undefined;
}

/** Parses the text format; throws on anything malformed (a sample before its TYPE, ...). */
export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
    if (meta) {
      const f = family(meta[2]!);
      if (meta[1] === 'HELP') f.help = meta[3]!;
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3]!))
          throw new Error(`unknown type in: ${line}`);
        f.type = meta[3] as MetricType;
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const f = familyOf(m[1]!, families);
    if (!f) throw new Error(`sample without its # TYPE: ${line}`);
    // As Prometheus reads values (Go's ParseFloat): NaN and Inf in any case (prom-client
    // writes `Nan` for a mean over no samples yet).
    const v = m[4]!.toLowerCase();
    const value = /^[+]?inf$/.test(v) ? Infinity : v === '-inf' ? -Infinity : Number(v);
    if (Number.isNaN(value) && v !== 'nan') throw new Error(`bad value in: ${line}`);
    f.samples.push({ name: m[1]!, labels: m[3] ? parseLabels(m[3], line) : {}, value });
  }
  return families;
}

export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 300)}`);
  return { families: parseExposition(text), text, contentType: res.headers.get('content-type')! };
}

/**
 * The sum of the samples of `name` whose labels include `labels` (a histogram's: its
 * `_count`); undefined when there is none.
 */
export function value(
  s: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const f = s.get(name);
  if (!f) return undefined;
  const series = f.type === 'histogram' || f.type === 'summary' ? `${name}_count` : name;
  const matching = f.samples.filter(
    (m) => m.name === series && Object.entries(labels).every(([k, v]) => m.labels[k] === v),
  );
  if (matching.length === 0) return undefined;
  return matching.reduce((sum, m) => sum + m.value, 0);
}

/** The label sets of a family's samples (a histogram's: of its `_count` series). */
export function labelSets(s: Map<string, MetricFamily>, name: string): Record<string, string>[] {
  const f = s.get(name);
  if (!f) return [];
  const series = f.type === 'histogram' || f.type === 'summary' ? `${name}_count` : name;
  return f.samples.filter((m) => m.name === series).map((m) => ({ ...m.labels }));
}

/** The label names a family's samples carry (histogram buckets' `le` included). */
export function labelNames(f: MetricFamily): Set<string> {
  const names = new Set<string>();
  for (const m of f.samples) for (const k of Object.keys(m.labels)) names.add(k);
  return names;
}

/** The series names a family puts on the wire (`x_bucket`, `x_sum`, `x_count` for a histogram). */
export function seriesNames(f: MetricFamily): string[] {
  if (f.type === 'histogram') return [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`];
  if (f.type === 'summary') return [f.name, `${f.name}_sum`, `${f.name}_count`];
  return [f.name];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const UNITS = ['seconds', 'bytes'];

/**
 * Where a family breaks Prometheus' naming conventions (as dim applies them): counters end
 * in `_total`; only counters do; histograms carry a base unit (`_seconds`, `_bytes`); no
 * milliseconds or other scaled units; dim's own metrics start with `dim_`; label names are
 * valid and none starts with `__`. Empty: no problem.
 */
export function conventionProblems(f: MetricFamily): string[] {
  const out: string[] = [];
  const n = f.name;
  if (!NAME.test(n)) out.push(`${n}: not a valid metric name`);
  if (f.type === 'counter' && !n.endsWith('_total')) out.push(`${n}: a counter must end in _total`);
  if (f.type !== 'counter' && n.endsWith('_total')) out.push(`${n}: only counters end in _total`);
  if (f.type === 'histogram' && !UNITS.some((u) => n.endsWith(`_${u}`)))
    out.push(`${n}: a histogram must name its base unit (_seconds, _bytes)`);
  if (/_(milliseconds|ms|kb|mb|gb|kilobytes|megabytes)(_|$)/.test(n))
    out.push(`${n}: use base units (seconds, bytes)`);
  if (!f.help) out.push(`${n}: no HELP text`);
  for (const l of labelNames(f)) {
    if (!LABEL.test(l) || l.startsWith('__')) out.push(`${n}: bad label name ${l}`);
  }
  return out;
}

/**
 * The metric names a PromQL expression selects, and the label names it groups by or
 * matches on, from its syntax tree.
 */
export function promqlUses(expr: string): { metrics: string[]; labels: string[] } {
  // Grafana's interval variables are durations to Prometheus.
  const q = expr.replace(/\$__(rate_interval|interval|range)/g, '5m');
  const tree = parser.parse(q);
  const metrics: string[] = [];
  const labels: string[] = [];
  let error = false;
  tree.iterate({
    enter(node) {
      if (node.type.isError) error = true;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector')
        metrics.push(q.slice(node.from, node.to));
      if (node.name === 'LabelName' && node.node.parent?.name !== 'FunctionCallBody')
        labels.push(q.slice(node.from, node.to));
    },
  });
  if (error) throw new Error(`not valid PromQL: ${expr}`);
  return { metrics, labels };
}
