import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../runtime/log';

/**
 * `dim up --demo`: a living system within a minute, through the running API like any
 * client. It writes a handful of datasets as real files under the data dir's tier
 * directories (the embedded default tiers: `<data dir>/storage/{hot,warm,cold}/<name>`),
 * registers them, plans one migration that waits for approval, and keeps a trickle of
 * access events with different patterns going until dim stops. Running it again on the same
 * data dir adds nothing twice: datasets are found by name, and the plan's derived job_key
 * names the same job.
 */
export interface DemoOptions {
  apiUrl: string;
  /** An operator or admin key when DIM_API_KEYS is set. */
  apiKey: string | undefined;
  dataDir: string;
  log: Logger;
  /** Milliseconds between two rounds of events (default 2000). */
  tickMs?: number;
}

type Tier = 'hot' | 'warm' | 'cold';

/** How a demo dataset is read: events per round, with a period (rounds) for bursts. */
interface DemoDataset {
  name: string;
  tier: Tier;
  owner: string;
  files: number;
  /** Bytes per file. */
  fileBytes: number;
  latency_slo_ms?: number;
  policy?: string;
  /** Reads per round while active; active every `every` rounds for `burst` rounds. */
  reads: number;
  every: number;
  burst: number;
  writes?: number;
}

export const DEMO_DATASETS: readonly DemoDataset[] = [
  // Read all the time: stays hot.
  {
    name: 'web-logs',
    tier: 'hot',
    owner: 'web',
    files: 12,
    fileBytes: 256 << 10,
    reads: 8,
    every: 1,
    burst: 1,
    writes: 1,
    latency_slo_ms: 10,
  },
  // Bursts of reads (a training job every minute or so).
  {
    name: 'ml-features',
    tier: 'hot',
    owner: 'ml',
    files: 6,
    fileBytes: 1 << 20,
    reads: 20,
    every: 30,
    burst: 5,
  },
  // Read now and then.
  {
    name: 'q3-reports',
    tier: 'warm',
    owner: 'finance',
    files: 4,
    fileBytes: 512 << 10,
    reads: 1,
    every: 20,
    burst: 1,
  },
  // Almost never read.
  {
    name: 'archive-2019',
    tier: 'cold',
    owner: 'finance',
    files: 8,
    fileBytes: 512 << 10,
    reads: 1,
    every: 300,
    burst: 1,
  },
  // Written once, never read: the advice is to move it down.
  {
    name: 'raw-uploads',
    tier: 'hot',
    owner: 'ingest',
    files: 10,
    fileBytes: 512 << 10,
    reads: 0,
    every: 1,
    burst: 0,
  },
  // Its move to warm waits for an operator's approval.
  {
    name: 'video-masters',
    tier: 'hot',
    owner: 'media',
    files: 3,
    fileBytes: 2 << 20,
    reads: 0,
    every: 1,
    burst: 0,
    policy: 'demo-approval',
  },
];

/** The dataset whose migration the demo plans and leaves waiting for approval. */
export const DEMO_PENDING = 'video-masters';

export interface RunningDemo {
  datasets: Record<string, number>;
  pendingJobId: string;
  stop(): void;
}

class DemoApi {
  constructor(
    private readonly url: string,
    private readonly key: string | undefined,
  ) {}

  async call<T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(this.url + p, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(this.key ? { authorization: `Bearer ${this.key}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async ok<T>(method: string, p: string, body?: unknown): Promise<T> {
    const r = await this.call<T & { detail?: string }>(method, p, body);
    if (r.status >= 300) {
      throw new Error(`demo: ${method} ${p} answered ${r.status}: ${r.body?.detail ?? ''}`);
    }
    return r.body;
  }
}

/** Deterministic bytes for a demo file (the same on every run: the files are not rewritten). */
function content(name: string, i: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(`${name}/${i}`).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export async function startDemo(opts: DemoOptions): Promise<RunningDemo> {
  const api = new DemoApi(opts.apiUrl, opts.apiKey);
  const storage = path.join(opts.dataDir, 'storage');

  await api.ok('POST', '/policies', {
    name: 'demo-approval',
    require_approval: true,
  });

  const existing = new Map<string, number>();
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page: { items: Array<{ id: number; name: string }>; next_cursor: string | null } =
      await api.ok('GET', `/datasets?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    for (const d of page.items) existing.set(d.name, d.id);
    cursor = page.next_cursor;
  }

  const ids: Record<string, number> = {};
  for (const d of DEMO_DATASETS) {
    const dir = path.join(storage, d.tier, d.name);
    const known = existing.get(d.name);
    if (known !== undefined) {
      ids[d.name] = known;
      continue;
    }
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < d.files; i++) {
      writeFileSync(
        path.join(dir, `part-${String(i).padStart(4, '0')}.bin`),
        content(d.name, i, d.fileBytes),
      );
    }
    const created = await api.ok<{ id: number }>('POST', '/datasets', {
      name: d.name,
      path_uri: pathToFileURL(dir).href,
      size_bytes: d.files * d.fileBytes,
      object_count: d.files,
      current_tier: d.tier,
      owner: d.owner,
      policy: d.policy ?? null,
      latency_slo_ms: d.latency_slo_ms ?? null,
    });
    ids[d.name] = created.id;
  }

  // One migration that waits for approval (its policy requires it).
  const pendingId = ids[DEMO_PENDING]!;
  const pending = await api.ok<{ job_id: string; status: string }>('POST', '/plan-migration', {
    dataset_id: pendingId,
    target_location: pathToFileURL(path.join(storage, 'warm', DEMO_PENDING)).href,
    storage_class: 'standard',
    target_tier: 'warm',
  });

  // Store the recommendations now (the schedule's first sweep may be minutes away), so the
  // overview's saving and the recommendations show from the first look. No demo policy has
  // auto_apply: the sweep moves nothing by itself here.
  const sweep = await api.call<{ detail?: string }>('POST', '/sweep');
  if (sweep.status !== 200 && sweep.status !== 409) {
    opts.log.warn('demo: the first sweep failed', {
      status: sweep.status,
      detail: sweep.body?.detail,
    });
  }

  // The trickle: one POST of a round's events every tick.
  let round = 0;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    round++;
    const events: unknown[] = [];
    for (const d of DEMO_DATASETS) {
      const id = ids[d.name]!;
      const active = d.burst > 0 && round % d.every < d.burst;
      const base = d.tier === 'hot' ? 4 : d.tier === 'warm' ? 25 : 180;
      for (let i = 0; active && i < d.reads; i++) {
        events.push({
          dataset_id: id,
          op: 'read',
          size_bytes: d.fileBytes,
          client_lat_ms: base + ((round * 7 + i * 13) % 10),
        });
      }
      for (let i = 0; i < (d.writes ?? 0); i++) {
        events.push({ dataset_id: id, op: 'write', size_bytes: 4096, client_lat_ms: base });
      }
    }
    try {
      if (events.length) await api.ok('POST', '/access-events', events);
    } catch (err) {
      opts.log.warn('demo: could not send events', { err: (err as Error).message });
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), opts.tickMs ?? 2000);
  timer.unref();
  await tick();
  opts.log.info('demo seeded', {
    datasets: Object.keys(ids).length,
    awaiting_approval: pending.job_id,
  });
  return { datasets: ids, pendingJobId: pending.job_id, stop: () => clearInterval(timer) };
}
