import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Incoming } from '../store/access';
import { insertDataset } from '../store/datasets';
import { BACKEND_LABEL, benchBackends, cpuMs, openBenchStore } from './backends';

/**
 * The bridge's transaction alone (`AccessStore.apply`, store/access.ts on SQLite,
 * store/access-pg.ts on PostgreSQL), in this process, without Kafka: what one batch of
 * `size` events over `datasets` datasets costs, in wall-clock and CPU time per batch (this
 * process, and on PostgreSQL the server backend that serves it).
 *
 *   BENCH_DB=sqlite,postgres node bench/run.js bridge-apply [size=170] [datasets=17] [rounds=500]
 *
 * The defaults are the batches `bench/ingest` sees in its HTTP stage (a few hundred events
 * per partition per fetch). Figures, not assertions.
 */
export async function main(args: string[]): Promise<void> {
  const size = Number(args[0] ?? 170);
  const datasets = Number(args[1] ?? 17);
  const rounds = Number(args[2] ?? 500);
  for (const backend of benchBackends()) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dim-bench-apply-'));
    const bench = await openBenchStore(backend, dir);
    try {
      const { db } = bench.store;
      for (let i = 0; i < datasets; i++)
        await insertDataset(db, {
          name: `apply-${i}`,
          path_uri: `file:///shared_storage/apply-${i}`,
          current_tier: 'hot',
          latency_slo_ms: null,
          size_bytes: 0,
          object_count: 0,
          owner: null,
          policy: null,
          version: 1,
          last_access_ts: null,
          tier_since: 0,
          created_at: 0,
          updated_at: 0,
        });
      const store = bench.store.backend.accessStore('bench', 'access_events', 'kafka');
      const ts = Date.now() - 60_000;
      let offset = 0;
      let n = 0;
      // Numbered by one source, as the API's sink numbers them (one watermark per batch).
      const batch = (): Incoming[] =>
        Array.from({ length: size }, (_, i) => ({
          offset: offset++,
          source: 'bench-source',
          n: ++n,
          event: {
            dataset_id: 1 + (i % datasets),
            op: i % 4 === 0 ? 'write' : 'read',
            size_bytes: 4096 + (i % 1000),
            client_lat_ms: (i % 500) / 10,
            ts: ts + (i % 1000),
          },
        }));
      const batches = Array.from({ length: rounds + 50 }, batch);
      for (const b of batches.slice(0, 50)) await store.apply(0, b, b.at(-1)!.offset + 1);
      const pids = await bench.ownServerPids();
      const server0 = pids.map(cpuMs);
      const cpu = process.cpuUsage();
      const t = process.hrtime.bigint();
      for (const b of batches.slice(50)) await store.apply(0, b, b.at(-1)!.offset + 1);
      const wall = Number(process.hrtime.bigint() - t) / 1e6;
      const c = process.cpuUsage(cpu);
      const server = pids.reduce((s, pid, i) => s + cpuMs(pid) - server0[i]!, 0);
      const per = (v: number) => `${(v / rounds).toFixed(2)} ms`;
      process.stdout.write(
        `${BACKEND_LABEL[backend]}: batches of ${size} events over ${datasets} datasets, ${rounds} of them: ` +
          `${per(wall)} wall, ${per((c.user + c.system) / 1000)} CPU here (user ${per(c.user / 1000)}, system ${per(c.system / 1000)})` +
          `${pids.length ? `, ${per(server)} CPU in the server` : ''} per batch; ` +
          `load average ${os.loadavg()[0]!.toFixed(2)}\n`,
      );
    } finally {
      await bench.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
