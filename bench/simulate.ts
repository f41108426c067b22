import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseMix, simulateCommand, type SimulateOptions } from '../cli/commands/simulate';
import { defaultTiers } from '../placement/default-tiers';
import {
  generateTrace,
  patternOf,
  simulate,
  TraceBuilder,
  type SimulationResult,
} from '../placement/simulate';
import { generatedPolicies } from '../placement/simulate/generate';
import type { PlacementRules } from '../placement/types';

/**
 * The simulator's benchmark (issue 10, item 8): generate a trace with `dim simulate
 * --generate`, then time `dim simulate` on it (reading the JSON lines, every strategy, the
 * optimum), in this process, through the CLI's own command function. Prints each
 * strategy's cost, dim / optimum and dim / intelligent-tiering, and the targets. Nothing
 * asserts on the figures.
 *
 * `node bench/run.js placement simulate [datasets] [days] [seed] [mix] [--heuristic]`
 * (default 100,000 datasets, 30 days, seed 1, the default mix).
 *
 * With `--by-pattern`, instead: the same trace generated and simulated in this process
 * (no files, not timed), and each strategy's cost per generated pattern (`groups` of the
 * result), with dim / optimum per pattern and each pattern's share of the optimum's cost.
 */
const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

export async function main(args: string[]): Promise<void> {
  const flags = args.filter((a) => a.startsWith('--'));
  const [n = '100000', days = '30', seed = '1', mix] = args.filter((a) => !a.startsWith('--'));
  if (flags.includes('--by-pattern')) return byPattern(n, days, seed, mix, flags);
  const dir = mkdtempSync(path.join(tmpdir(), 'dim-bench-simulate-'));
  const io = (sink: string[]) => ({
    out: (t: string) => void sink.push(t),
    err: (t: string) => void sink.push(t),
  });
  try {
    const gen: string[] = [];
    let t = process.hrtime.bigint();
    const g: SimulateOptions = { generate: dir, count: n, days, seed, mix, json: true };
    await simulateCommand(g, dir, io(gen));
    const genMs = since(t);
    const summary = JSON.parse(gen.join('')) as { events: number; files: string[] };

    const out: string[] = [];
    const cpu = process.cpuUsage();
    t = process.hrtime.bigint();
    await simulateCommand(
      {
        datasets: summary.files[0],
        events: summary.files[1],
        policies: summary.files[2],
        heuristic: flags.includes('--heuristic'),
        json: true,
      },
      dir,
      io(out),
    );
    const ms = since(t);
    const used = process.cpuUsage(cpu);
    const r = JSON.parse(out.join('')) as SimulationResult;
    const by = Object.fromEntries(r.strategies.map((s) => [s.name, s]));
    const dim = by['dim']!;
    const opt = by['optimum']!.total_usd;
    const it = by['intelligent-tiering']!.total_usd;
    const lines = [
      `simulate: ${r.datasets} datasets × ${days} days, ${r.events} events, ${r.steps} steps, seed ${seed}, mix ${mix ?? 'default'}${flags.includes('--heuristic') ? ', heuristic (no model)' : ''}`,
      `  generate ${(genMs / 1000).toFixed(1)} s · simulate ${(ms / 1000).toFixed(1)} s wall, ${((used.user + used.system) / 1e6).toFixed(1)} s CPU (target < 60 s)`,
      ...r.strategies.map(
        (s) =>
          `  ${s.name.padEnd(20)} $${s.total_usd.toFixed(2).padStart(12)}  ×${(s.total_usd / opt).toFixed(3)} of optimum  ${String(s.moves).padStart(8)} moves  ${String(s.slo_violations).padStart(7)} SLO violations`,
      ),
      `  dim / optimum ${(dim.total_usd / opt).toFixed(3)} (target ≤ 1.10) · dim / intelligent-tiering ${(dim.total_usd / it).toFixed(3)} (target ≤ 0.80) · dim SLO violations ${dim.slo_violations} (target 0)`,
      `  static strategies without SLO violations that dim beats: ${
        r.strategies
          .filter((s) => s.name.startsWith('static-') && s.slo_violations === 0)
          .map((s) => `${s.name} ${dim.total_usd < s.total_usd ? 'yes' : 'NO'}`)
          .join(', ') || 'none'
      }`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `--by-pattern`: the costs per generated pattern, in process. */
function byPattern(
  n: string,
  days: string,
  seed: string,
  mix: string | undefined,
  flags: string[],
) {
  const g = generateTrace({
    seed: Number(seed),
    datasets: Number(n),
    days: Number(days),
    mix: mix === undefined ? undefined : parseMix(mix),
  });
  const b = new TraceBuilder(g.datasets);
  const index = new Map(g.datasets.map((d, i) => [d.id, i]));
  for (const e of g.events()) b.add(index.get(e.dataset_id)!, e.op, e.size_bytes, e.ts);
  const policies = new Map(
    generatedPolicies(new Date(0).toISOString()).map((p) => [
      p['name'] as string,
      p as unknown as PlacementRules,
    ]),
  );
  const tiers = defaultTiers(tmpdir());
  const r = simulate(b.build(3_600_000), {
    tiers,
    policies,
    model: flags.includes('--heuristic') ? null : undefined,
    groupOf: (ds) => patternOf(ds.name) ?? 'other',
  });
  const total = (x: SimulationResult['strategies'], name: string) =>
    x.find((s) => s.name === name)!;
  const opt = total(r.strategies, 'optimum').total_usd;
  const lines = [
    `simulate by pattern: ${r.datasets} datasets × ${days} days, ${r.events} events, seed ${seed}, mix ${mix ?? 'default'}`,
    `  ${'pattern'.padEnd(9)} ${'datasets'.padStart(8)} ${'dim'.padStart(14)} ${'optimum'.padStart(14)} ${'dim/opt'.padStart(8)} ${'opt share'.padStart(9)} ${'gap share'.padStart(9)}  dim moves  opt moves  dim SLO`,
  ];
  const dimAll = total(r.strategies, 'dim').total_usd;
  for (const grp of [
    ...r.groups!,
    { group: 'all', datasets: r.datasets, strategies: r.strategies },
  ]) {
    const d = total(grp.strategies, 'dim');
    const o = total(grp.strategies, 'optimum');
    lines.push(
      `  ${grp.group.padEnd(9)} ${String(grp.datasets).padStart(8)} ${('$' + d.total_usd.toFixed(2)).padStart(14)} ${('$' + o.total_usd.toFixed(2)).padStart(14)} ${(d.total_usd / o.total_usd).toFixed(3).padStart(8)} ${((100 * o.total_usd) / opt).toFixed(1).padStart(8)}% ${((100 * (d.total_usd - o.total_usd)) / (dimAll - opt)).toFixed(1).padStart(8)}%  ${String(d.moves).padStart(9)}  ${String(o.moves).padStart(9)}  ${String(d.slo_violations).padStart(7)}`,
    );
    lines.push(
      `  ${''.padEnd(9)} dim: storage $${d.storage_usd.toFixed(0)} access $${d.access_usd.toFixed(0)} moves $${d.move_usd.toFixed(0)} early deletion $${d.early_delete_usd.toFixed(0)} · optimum: storage $${o.storage_usd.toFixed(0)} access $${o.access_usd.toFixed(0)} moves $${o.move_usd.toFixed(0)} early deletion $${o.early_delete_usd.toFixed(0)}`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}
