import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DEMO_DATASETS, DEMO_PENDING } from '../../demo/seed';
import { freePort, startDim, tempDir } from '../support/dim-process';

/**
 * `dim up --demo` through the real binary on the dev/services Temporal: the demo datasets
 * are real files under the data dir across the tiers, a trickle of reads arrives without any
 * call, one migration waits for approval, and a second start on the same data dir adds
 * nothing twice.
 */
jest.setTimeout(180_000);

interface Dataset {
  id: number;
  name: string;
  current_tier: string;
  path_uri: string;
  size_bytes: number;
}

it('seeds datasets with real files, a trickle of events and a job waiting for approval; a restart adds nothing', async () => {
  const dataDir = tempDir('demo');
  const env = async () => ({
    DIM_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: '127.0.0.1:7233',
    DIM_TASK_QUEUE: `demo-${randomUUID()}`,
    DIM_SWEEP_INTERVAL_S: '0',
    DIM_API_PORT: String(await freePort()),
    DIM_WORKER_PORT: String(await freePort()),
  });
  const get = async <T>(url: string): Promise<T> => (await (await fetch(url)).json()) as T;
  let jobId: string | undefined;
  for (let start = 0; start < 2; start++) {
    const dim = await startDim('up --demo', await env(), 120_000);
    const cmd = dim.child;
    try {
      const api = dim.ready.api!;
      const { items } = await get<{ items: Dataset[] }>(`${api}/datasets?limit=100`);
      expect(items.map((d) => d.name).sort()).toEqual(DEMO_DATASETS.map((d) => d.name).sort());
      for (const d of DEMO_DATASETS) {
        const row = items.find((x) => x.name === d.name)!;
        expect(row.current_tier).toBe(d.tier);
        const dir = path.join(dataDir, 'storage', d.tier, d.name);
        expect(row.path_uri).toBe(`file://${dir}`);
        expect(readdirSync(dir)).toHaveLength(d.files);
        expect(row.size_bytes).toBe(d.files * d.fileBytes);
      }
      // The demo ran a sweep: the recommendations are stored (they have ids).
      const recs = await get<{ items: Array<{ id: number | null }> }>(`${api}/recommendations`);
      expect(recs.items.filter((r) => r.id !== null).length).toBeGreaterThan(0);
      const pending = items.find((d) => d.name === DEMO_PENDING)!;
      const jobs = await get<{ items: Array<{ job_id: string; status: string }> }>(
        `${api}/jobs?dataset_id=${pending.id}`,
      );
      expect(jobs.items).toHaveLength(1);
      jobId ??= jobs.items[0]!.job_id;
      expect(jobs.items[0]!.job_id).toBe(jobId);
      expect(dim.ready.demo_job_awaiting_approval).toBe(jobId);
      // awaiting_approval once the workflow reached its gate.
      const deadline = Date.now() + 30_000;
      let status = jobs.items[0]!.status;
      while (status !== 'awaiting_approval' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        status = (await get<{ status: string }>(`${api}/jobs/${jobId}`)).status;
      }
      expect(status).toBe('awaiting_approval');

      // The trickle: reads of web-logs keep arriving with no call of ours.
      const logs = items.find((d) => d.name === 'web-logs')!;
      const reads = async () =>
        (await get<{ usage: { read_count: number } }>(`${api}/datasets/${logs.id}`)).usage
          .read_count;
      const before = await reads();
      const until = Date.now() + 20_000;
      while ((await reads()) <= before && Date.now() < until)
        await new Promise((r) => setTimeout(r, 500));
      expect(await reads()).toBeGreaterThan(before);
    } finally {
      cmd.kill('SIGTERM');
    }
    expect(await dim.exited).toBe(0);
  }
});
