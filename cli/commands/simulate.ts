import { createReadStream, createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defaultTiers, TIER_NAMES, type PlacementRules, type TierTable } from '../../placement';
import {
  generateTrace,
  PATTERNS,
  simulate,
  TraceBuilder,
  type Pattern,
  type SimDataset,
  type SimulationResult,
} from '../../placement/simulate';
import { generatedPolicies } from '../../placement/simulate/generate';
import { CliError } from '../client';
import { table } from '../format';

/**
 * `dim simulate`: reads a trace (datasets and access events as JSON lines), replays it
 * through the baselines, dim's placement policy and the offline optimum (placement/simulate)
 * and prints each strategy's costs; `--generate DIR` writes a synthetic trace instead.
 * Every bad line is one line on stderr naming the file, the line and the field (exit 2).
 */
export interface SimulateOptions {
  datasets?: string;
  events?: string;
  tiers?: string;
  policies?: string;
  step?: string;
  generate?: string;
  seed?: string;
  count?: string;
  days?: string;
  mix?: string;
  /** Decide without a trained model (the heuristic), as before any POST /train. */
  heuristic?: boolean;
  /** How often the model is retrained in simulated time (default 1d). */
  retrain?: string;
  json?: boolean;
}

export interface SimulateIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const tierName = z.enum(['hot', 'warm', 'cold'], { error: 'must be hot, warm or cold' });
const nonNegative = (what: string) =>
  z.number({ error: `must be a number (${what})` }).min(0, 'must not be negative');

const DatasetLine = z.object({
  id: z.number({ error: 'must be a number' }).int('must be a whole number'),
  name: z.string({ error: 'must be a string' }).min(1, 'must not be empty'),
  size_bytes: nonNegative('bytes'),
  object_count: z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .default(1),
  latency_slo_ms: z
    .number({ error: 'must be a number of milliseconds or null' })
    .positive('must be positive')
    .nullable()
    .default(null),
  current_tier: tierName.default('hot'),
  policy: z.string({ error: 'must be a policy name or null' }).nullable().default(null),
});

const EventLine = z.object({
  dataset_id: z.number({ error: 'must be a dataset id (a number)' }).int('must be a whole number'),
  op: z.enum(['read', 'write'], { error: 'must be read or write' }),
  size_bytes: nonNegative('bytes'),
  client_lat_ms: z.number({ error: 'must be a number' }).nullable().optional(),
  ts: z
    .number({ error: 'must be a time in ms since the epoch (a number)' })
    .int('must be a whole number of ms'),
});

/** One tier as GET /tiers returns it (other fields, such as updated_at, are ignored). */
const TierLine = z.object({
  name: tierName,
  location_template: z.string({ error: 'must be a string' }),
  storage_class: z.string({ error: 'must be a string' }),
  read_latency_ms: nonNegative('milliseconds'),
  price_gb_month: nonNegative('USD per GB-month'),
  price_retrieval_gb: nonNegative('USD per GB').default(0),
  price_per_1k_requests: nonNegative('USD per 1000 requests').default(0),
  min_storage_days: nonNegative('days').default(0),
  egress_gb: nonNegative('USD per GB').default(0),
});

/** One policy as GET /policies returns it; only the placement values are used. */
const seconds = z
  .number({ error: 'must be a number of seconds' })
  .int('must be a whole number')
  .min(0, 'must not be negative');
const PolicyLine = z.object({
  name: z.string({ error: 'must be a string' }).min(1, 'must not be empty'),
  latency_slo_ms: z
    .number({ error: 'must be a number or null' })
    .positive()
    .nullable()
    .default(null),
  pinned_tier: tierName.nullable().default(null),
  cost_target_usd_month: z
    .number({ error: 'must be a number or null' })
    .min(0)
    .nullable()
    .default(null),
  min_residency_s: seconds.default(3600),
  hot_max_age_s: seconds.default(60),
  warm_max_age_s: seconds.default(600),
});

const where = (issue: z.core.$ZodIssue) =>
  `${issue.path.length ? issue.path.join('.') : '(line)'}: ${issue.message}`;

function cannotRead(file: string, err: unknown): CliError {
  return new CliError(
    `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    2,
  );
}

/** The lines of a file, numbered from 1, read in large chunks. */
async function* lines(file: string): AsyncGenerator<[number, string]> {
  const input = createReadStream(file, { highWaterMark: 1 << 20, encoding: 'utf8' });
  let rest = '';
  let n = 0;
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      const text = rest + chunk;
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        yield [++n, text.slice(start, nl)];
        start = nl + 1;
      }
      rest = text.slice(start);
    }
  } catch (err) {
    throw cannotRead(file, err);
  }
  if (rest) yield [++n, rest];
}

function parseLine(file: string, n: number, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} line ${n}: not valid JSON (${(err as Error).message})`, 2);
  }
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw cannotRead(file, err);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file}: not valid JSON (${(err as Error).message})`, 2);
  }
}

/** `{items: [...]}` (a GET answer) or a bare array. */
function itemsOf(file: string, body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  const items = (body as { items?: unknown } | null)?.items;
  if (Array.isArray(items)) return items;
  throw new CliError(`${file}: must be {"items": [...]} (as GET returns it) or an array`, 2);
}

export function readTiers(file: string): TierTable {
  const items = itemsOf(file, readJson(file));
  const out: Partial<TierTable> = {};
  items.forEach((raw, i) => {
    const r = TierLine.safeParse(raw);
    if (!r.success) throw new CliError(`${file} items[${i}].${where(r.error.issues[0]!)}`, 2);
    if (out[r.data.name])
      throw new CliError(`${file} items[${i}].name: "${r.data.name}" appears twice`, 2);
    out[r.data.name] = r.data;
  });
  for (const t of TIER_NAMES) {
    if (!out[t])
      throw new CliError(`${file}: tier "${t}" is missing (hot, warm and cold are needed)`, 2);
  }
  return out as TierTable;
}

export function readPolicies(file: string): Map<string, PlacementRules> {
  const items = itemsOf(file, readJson(file));
  const out = new Map<string, PlacementRules>();
  items.forEach((raw, i) => {
    const r = PolicyLine.safeParse(raw);
    if (!r.success) throw new CliError(`${file} items[${i}].${where(r.error.issues[0]!)}`, 2);
    out.set(r.data.name, { ...r.data });
  });
  return out;
}

async function readDatasets(file: string, policies: Map<string, PlacementRules> | undefined) {
  const datasets: SimDataset[] = [];
  const byId = new Map<number, number>();
  for await (const [n, text] of lines(file)) {
    if (!text.trim()) continue;
    const r = DatasetLine.safeParse(parseLine(file, n, text));
    if (!r.success) throw new CliError(`${file} line ${n}: ${where(r.error.issues[0]!)}`, 2);
    const d = r.data;
    if (byId.has(d.id)) throw new CliError(`${file} line ${n}: id: ${d.id} appears twice`, 2);
    if (d.policy !== null && !policies?.has(d.policy)) {
      throw new CliError(
        `${file} line ${n}: policy: "${d.policy}" is not ${policies ? 'in the --policies file' : 'known (give --policies FILE)'}`,
        2,
      );
    }
    byId.set(d.id, datasets.length);
    datasets.push(d);
  }
  return { datasets, byId };
}

/** Events: a quick check of each line, zod's message for a line that fails it. */
async function readEvents(file: string, b: TraceBuilder, byId: Map<number, number>) {
  let prev = -Infinity;
  for await (const [n, text] of lines(file)) {
    if (!text.trim()) continue;
    const e = parseLine(file, n, text) as Record<string, unknown> | null;
    let ok =
      e !== null &&
      typeof e === 'object' &&
      typeof e.dataset_id === 'number' &&
      Number.isInteger(e.dataset_id) &&
      (e.op === 'read' || e.op === 'write') &&
      typeof e.size_bytes === 'number' &&
      e.size_bytes >= 0 &&
      typeof e.ts === 'number' &&
      Number.isInteger(e.ts) &&
      (e.client_lat_ms === undefined ||
        e.client_lat_ms === null ||
        typeof e.client_lat_ms === 'number');
    if (!ok) {
      const r = EventLine.safeParse(e);
      if (!r.success) throw new CliError(`${file} line ${n}: ${where(r.error.issues[0]!)}`, 2);
      ok = true;
    }
    const ev = e as { dataset_id: number; op: 'read' | 'write'; size_bytes: number; ts: number };
    const i = byId.get(ev.dataset_id);
    if (i === undefined) {
      throw new CliError(
        `${file} line ${n}: dataset_id: ${ev.dataset_id} is not in the datasets file`,
        2,
      );
    }
    if (ev.ts < prev) {
      throw new CliError(
        `${file} line ${n}: ts: earlier than the line before (events must be in time order)`,
        2,
      );
    }
    prev = ev.ts;
    b.add(i, ev.op, ev.size_bytes, ev.ts);
  }
}

/** `1h`, `30m`, `15min`, `1d`, `3600s`: a step in ms (a whole number of seconds, at least 1 s). */
export function parseStep(v: string, flag = '--step'): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)$/.exec(v.trim());
  const unit = { s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };
  const ms = m ? Number(m[1]) * unit[m[2] as keyof typeof unit] : NaN;
  if (!(ms >= 1000) || ms % 1000 !== 0) {
    throw new CliError(`${flag}: must be a duration such as 1h, 30m, 1d or 3600s (got "${v}")`, 2);
  }
  return ms;
}

function wholeNumber(flag: string, v: string | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min) {
    throw new CliError(`${flag}: must be a whole number of at least ${min} (got "${v}")`, 2);
  }
  return Number(v);
}

export function parseMix(v: string): Partial<Record<Pattern, number>> {
  const out: Partial<Record<Pattern, number>> = {};
  for (const part of v.split(',')) {
    const [k, w] = part.split('=');
    if (!PATTERNS.includes(k as Pattern) || w === undefined || !(Number(w) >= 0)) {
      throw new CliError(
        `--mix: "${part}" must be PATTERN=WEIGHT, PATTERN one of ${PATTERNS.join(', ')}`,
        2,
      );
    }
    out[k as Pattern] = Number(w);
  }
  return out;
}

const usd = (v: number) => `$${v.toFixed(2)}`;

/** The table people read: one row per strategy, and dim beside the optimum. */
export function simulationText(r: SimulationResult): string {
  const byName = new Map(r.strategies.map((s) => [s.name, s]));
  const ratio = (a?: number, b?: number) =>
    a === undefined || b === undefined || b === 0 ? '-' : (a / b).toFixed(3);
  const opt = byName.get('optimum')?.total_usd;
  const head = `${r.datasets} datasets, ${r.events} events, ${r.steps} steps\n`;
  const body = table(
    [
      'STRATEGY',
      'TOTAL',
      'STORAGE',
      'ACCESS',
      'MOVES $',
      'EARLY DELETE',
      'MOVES',
      'SLO VIOLATIONS',
      'VS OPTIMUM',
    ],
    r.strategies.map((s) => [
      s.name,
      usd(s.total_usd),
      usd(s.storage_usd),
      usd(s.access_usd),
      usd(s.move_usd),
      usd(s.early_delete_usd),
      s.moves,
      s.slo_violations,
      ratio(s.total_usd, opt),
    ]),
  );
  const dim = byName.get('dim')?.total_usd;
  const it = byName.get('intelligent-tiering')?.total_usd;
  return `${head}${body}dim / optimum ${ratio(dim, opt)} · dim / intelligent-tiering ${ratio(dim, it)}\n`;
}

/** Writes a generated trace to `dir`: datasets.jsonl, events.jsonl, policies.json. */
async function generate(o: SimulateOptions, io: SimulateIo): Promise<number> {
  const dir = o.generate!;
  const seed = wholeNumber('--seed', o.seed, 1, 0);
  const count = wholeNumber('--count', o.count, 1000);
  const days = wholeNumber('--days', o.days, 30);
  const mix = o.mix === undefined ? undefined : parseMix(o.mix);
  const g = generateTrace({ seed, datasets: count, days, mix });
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new CliError(`cannot create ${dir} (${(err as NodeJS.ErrnoException).code})`, 2);
  }
  const write = async (name: string, rows: Iterable<unknown>) => {
    const file = path.join(dir, name);
    const out = createWriteStream(file);
    const failed = new Promise<never>((_, reject) => out.once('error', reject));
    const wait = (ev: 'drain' | 'finish') =>
      Promise.race([new Promise<void>((r) => out.once(ev, () => r())), failed]);
    try {
      // Chunks of about 1 MB: neither a line per write nor the whole file in one string.
      let chunk = '';
      for (const row of rows) {
        chunk += JSON.stringify(row) + '\n';
        if (chunk.length >= 1 << 20) {
          if (!out.write(chunk)) await wait('drain');
          chunk = '';
        }
      }
      out.end(chunk);
      await wait('finish');
    } catch (err) {
      throw new CliError(`cannot write ${file} (${(err as NodeJS.ErrnoException).code})`, 1);
    }
    return file;
  };
  const files = [
    await write('datasets.jsonl', g.datasets),
    await write('events.jsonl', g.events()),
    await write('policies.json', [
      { items: generatedPolicies(new Date(0).toISOString()), next_cursor: null },
    ]),
  ];
  const summary = { datasets: g.datasets.length, events: g.eventCount, days, seed, files };
  io.out(
    o.json
      ? JSON.stringify(summary) + '\n'
      : `wrote ${g.datasets.length} datasets and ${g.eventCount} events (${days} days, seed ${seed}) to ${dir}\n` +
          `run: dim simulate --datasets ${files[0]} --events ${files[1]} --policies ${files[2]}\n`,
  );
  return 0;
}

export async function simulateCommand(
  o: SimulateOptions,
  dataDir: string,
  io: SimulateIo,
): Promise<number> {
  if (o.generate !== undefined) return generate(o, io);
  if (!o.datasets || !o.events) {
    throw new CliError('simulate needs --datasets FILE and --events FILE (or --generate DIR)', 2);
  }
  const step = parseStep(o.step ?? '1h');
  const retrainMs = parseStep(o.retrain ?? '1d', '--retrain');
  const tiers = o.tiers ? readTiers(o.tiers) : defaultTiers(dataDir);
  const policies = o.policies ? readPolicies(o.policies) : undefined;
  const { datasets, byId } = await readDatasets(o.datasets, policies);
  const b = new TraceBuilder(datasets);
  await readEvents(o.events, b, byId);
  const result = simulate(b.build(step), {
    tiers,
    policies,
    model: o.heuristic ? null : undefined,
    retrainMs,
  });
  io.out(o.json ? JSON.stringify(result) + '\n' : simulationText(result));
  return 0;
}
