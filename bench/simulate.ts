import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simulateCommand, type SimulateOptions } from '../cli/commands/simulate';
import type { SimulationResult } from '../placement/simulate';

/**
 * The simulator's benchmark (issue 10, item 8): generate a trace with `dim simulate
 * --generate`, then time `dim simulate` on it (reading the JSON lines, every strategy, the
 * optimum), in this process, through the CLI's own command function. Prints each
 * strategy's cost, dim / optimum and dim / intelligent-tiering, and the targets. Nothing
 * asserts on the figures.
 *
 * `node bench/run.js placement simulate [datasets] [days] [seed] [mix] [--heuristic]`
 * (default 100,000 datasets, 30 days, seed 1, the default mix).
 */
const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

export async function main(args: string[]): Promise<void> {
  const flags = args.filter((a) => a.startsWith('--'));
  const [n = '100000', days = '30', seed = '1', mix] = args.filter((a) => !a.startsWith('--'));
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
