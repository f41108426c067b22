import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * `dim simulate` through the real CLI entry (cli/main.ts, compiled on the fly by the same
 * swc hook the integration tests' child processes use): a tiny trace with --json and its
 * figures computed by hand, the table, --generate, and one-line errors for bad input.
 */
const root = path.resolve(__dirname, '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'dim-simulate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function dim(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['-r', path.join(root, 'test/support/register-ts.js'), path.join(root, 'cli/main.ts'), ...args],
    {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, DIM_DATA_DIR: dir, DIM_LOG_LEVEL: 'warn' },
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const lines = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

const T0 = Date.UTC(2026, 0, 5);
const H = 3_600_000;
// hot $7.30/GB-month (a cent per GB-hour), cold $0.73 with $2/GB retrieval, $10/1k requests.
const tiers = file(
  'tiers.json',
  JSON.stringify({
    items: [
      {
        name: 'hot',
        location_template: 'file:///srv/hot/{name}',
        storage_class: 'standard',
        read_latency_ms: 1,
        price_gb_month: 7.3,
        updated_at: '2026-01-01T00:00:00Z',
      },
      {
        name: 'warm',
        location_template: 'file:///srv/warm/{name}',
        storage_class: 'standard',
        read_latency_ms: 20,
        price_gb_month: 3.65,
        price_retrieval_gb: 0.5,
        price_per_1k_requests: 1,
        min_storage_days: 1,
        egress_gb: 0.1,
      },
      {
        name: 'cold',
        location_template: 'file:///srv/cold/{name}',
        storage_class: 'standard',
        read_latency_ms: 200,
        price_gb_month: 0.73,
        price_retrieval_gb: 2,
        price_per_1k_requests: 10,
        min_storage_days: 2,
        egress_gb: 0.2,
      },
    ],
  }),
);
const datasets = file(
  'datasets.jsonl',
  lines([
    { id: 1, name: 'a', size_bytes: 1e9 },
    {
      id: 2,
      name: 'b',
      size_bytes: 2e9,
      object_count: 3,
      latency_slo_ms: 50,
      current_tier: 'cold',
      policy: 'fast',
    },
  ]),
);
const events = file(
  'events.jsonl',
  lines([
    { dataset_id: 1, op: 'write', size_bytes: 0, client_lat_ms: 1, ts: T0 },
    { dataset_id: 2, op: 'read', size_bytes: 5e8, client_lat_ms: 1, ts: T0 + 10 },
    { dataset_id: 1, op: 'write', size_bytes: 0, client_lat_ms: 1, ts: T0 + 99 * H },
  ]),
);
const policies = file(
  'policies.json',
  JSON.stringify({
    items: [{ name: 'fast', latency_slo_ms: 100, pinned_tier: null, created_at: 'x' }],
    next_cursor: null,
  }),
);

it('prints the contract JSON, with figures computed by hand', () => {
  const r = dim(
    'simulate',
    '--datasets',
    datasets,
    '--events',
    events,
    '--tiers',
    tiers,
    '--policies',
    policies,
    '--json',
  );
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const j = JSON.parse(r.out);
  expect(Object.keys(j)).toEqual(['steps', 'datasets', 'events', 'strategies']);
  expect(j).toMatchObject({ steps: 100, datasets: 2, events: 3 });
  const s = Object.fromEntries(j.strategies.map((x: { name: string }) => [x.name, x]));
  // static-hot: a: 1 GB × 100 h × $0.01; b: 2 GB × 100 h × $0.01 + leaving cold at boundary 0:
  // 2 GB × (2 + 0.2) + 3 × $0 requests, and cold's 48 hours charged: 2 × 0.73 × 48 / 730.
  expect(s['static-hot'].storage_usd).toBeCloseTo(1 + 2, 9);
  expect(s['static-hot'].move_usd).toBeCloseTo(4.4, 9);
  expect(s['static-hot'].early_delete_usd).toBeCloseTo((2 * 0.73 * 48) / 730, 9);
  expect(s['static-hot'].moves).toBe(1);
  expect(s['static-hot'].slo_violations).toBe(0);
  // static-cold: b's read in cold breaks its 50 ms SLO; a's two writes cost 2 × $0.01.
  expect(s['static-cold'].slo_violations).toBe(1);
  expect(s['static-cold'].access_usd).toBeCloseTo(0.02 + 0.5 * 2.2 + 0.01, 9);
  // The optimum of a (by hand, see placement/simulate/simulate.test.ts): $0.129.
  expect(s.optimum.slo_violations).toBe(0);
  expect(s.optimum.total_usd).toBeLessThanOrEqual(s.dim.total_usd);
  expect(j.strategies.map((x: { name: string }) => x.name)).toEqual([
    'static-hot',
    'static-warm',
    'static-cold',
    'seed-recency',
    'intelligent-tiering',
    'dim',
    'optimum',
  ]);
});

it('decides without a model with --heuristic, and with one by default', () => {
  const args = [
    'simulate',
    '--datasets',
    datasets,
    '--events',
    events,
    '--tiers',
    tiers,
    '--policies',
    policies,
    '--json',
  ];
  const heuristic = dim(...args, '--heuristic');
  const model = dim(...args, '--retrain', '6h');
  expect([heuristic.code, model.code]).toEqual([0, 0]);
  const names = (r: { out: string }) =>
    JSON.parse(r.out).strategies.map((s: { name: string }) => s.name);
  expect(names(heuristic)).toEqual(names(model));
  expect(dim(...args, '--retrain', 'weekly').err).toBe(
    'dim: --retrain: must be a duration such as 1h, 30m, 1d or 3600s (got "weekly")\n',
  );
});

it('prints a table for people, with dim beside the optimum and intelligent-tiering', () => {
  const r = dim(
    'simulate',
    '--datasets',
    datasets,
    '--events',
    events,
    '--tiers',
    tiers,
    '--policies',
    policies,
  );
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^2 datasets, 3 events, 100 steps\nSTRATEGY +TOTAL/);
  expect(r.out).toMatch(/\noptimum +\$\d+\.\d\d .* 1\.000\n/);
  expect(r.out).toMatch(/dim \/ optimum \d+\.\d{3} · dim \/ intelligent-tiering \d+\.\d{3}\n$/);
});

it('generates a trace that it can simulate', () => {
  const out = path.join(dir, 'gen');
  const g = dim(
    'simulate',
    '--generate',
    out,
    '--count',
    '40',
    '--days',
    '3',
    '--seed',
    '5',
    '--json',
  );
  expect(g.code).toBe(0);
  const summary = JSON.parse(g.out);
  expect(summary).toMatchObject({ datasets: 40, days: 3, seed: 5 });
  const evLines = readFileSync(path.join(out, 'events.jsonl'), 'utf8').trim().split('\n');
  expect(evLines.length).toBe(summary.events);
  expect(Object.keys(JSON.parse(evLines[0]!))).toEqual([
    'dataset_id',
    'op',
    'size_bytes',
    'client_lat_ms',
    'ts',
  ]);
  const r = dim(
    'simulate',
    '--datasets',
    path.join(out, 'datasets.jsonl'),
    '--events',
    path.join(out, 'events.jsonl'),
    '--policies',
    path.join(out, 'policies.json'),
    '--json',
  );
  expect(r.code).toBe(0);
  expect(JSON.parse(r.out)).toMatchObject({ datasets: 40, events: summary.events });
});

it('names the file, the line and the field of bad input, in one line, exit 2', () => {
  const bad = file(
    'bad.jsonl',
    lines([
      { id: 1, name: 'a', size_bytes: 1 },
      { id: 2, name: 'b', size_bytes: -1 },
    ]),
  );
  let r = dim('simulate', '--datasets', bad, '--events', events);
  expect(r.code).toBe(2);
  expect(r.err).toBe(`dim: ${bad} line 2: size_bytes: must not be negative\n`);

  const badEv = file(
    'bad-events.jsonl',
    lines([{ dataset_id: 1, op: 'copy', size_bytes: 1, ts: T0 }]),
  );
  r = dim('simulate', '--datasets', datasets, '--events', badEv, '--policies', policies);
  expect(r.code).toBe(2);
  expect(r.err).toBe(`dim: ${badEv} line 1: op: must be read or write\n`);

  const order = file(
    'order.jsonl',
    lines([
      { dataset_id: 1, op: 'read', size_bytes: 1, ts: T0 + 5 },
      { dataset_id: 1, op: 'read', size_bytes: 1, ts: T0 },
    ]),
  );
  r = dim('simulate', '--datasets', datasets, '--events', order, '--policies', policies);
  expect(r.err).toBe(
    `dim: ${order} line 2: ts: earlier than the line before (events must be in time order)\n`,
  );

  r = dim('simulate', '--datasets', datasets, '--events', events);
  expect(r.code).toBe(2);
  expect(r.err).toBe(
    `dim: ${datasets} line 2: policy: "fast" is not known (give --policies FILE)\n`,
  );

  r = dim('simulate', '--datasets', path.join(dir, 'missing.jsonl'), '--events', events);
  expect(r.err).toBe(`dim: cannot read ${path.join(dir, 'missing.jsonl')} (ENOENT)\n`);

  r = dim(
    'simulate',
    '--datasets',
    datasets,
    '--events',
    events,
    '--policies',
    policies,
    '--step',
    'often',
  );
  expect(r.err).toBe(
    'dim: --step: must be a duration such as 1h, 30m, 1d or 3600s (got "often")\n',
  );
});
