import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { ScheduleNotFoundError } from '@temporalio/client';
import { defaultTiers } from '../../placement';
import { silentLogger } from '../../runtime/log';
import { ensureSweepSchedule } from '../../sweep/schedule';
import { acquireLease, releaseLease } from '../../store/leases';
import { ensureDefaultTiers } from '../../store/tiers';
import {
  bundleWorkflows,
  fileUri,
  jobRow,
  startHarness,
  treeDigest,
  waitForJob,
  writeTree,
  type Harness,
} from '../support/migration';

/**
 * The placement sweep end to end on the Temporal dev server: the Schedule
 * `dim-placement-sweep` starts the sweep workflow on a worker that has the sweep wired (as
 * `dim up` does); a dataset under an auto_apply policy that goes cold is migrated without
 * any call; one whose policy requires approval waits for it; the per-sweep and daily caps
 * hold; a dataset being migrated is not planned twice; POST /sweep refuses to run beside
 * another sweep; registering the schedule again updates the one there.
 *
 * The schedule is one per deployment (DIM_SWEEP_SCHEDULE_ID): this test registers one of
 * its own, for its task queue, and deletes it at the end.
 */
jest.setTimeout(180_000);

let h: Harness;
const taskQueue = `sweep-${randomUUID()}`;
const scheduleId = `dim-placement-sweep-${taskQueue}`;
const GB = 1e9;

beforeAll(async () => {
  h = await startHarness({
    name: 'sweep',
    taskQueue,
    bundle: await bundleWorkflows(),
    sweep: true,
  });
  // file:// tiers under the harness root: <dir>/storage/{hot,warm,cold}/{name}.
  await ensureDefaultTiers(h.store.db, defaultTiers(h.dir));
});

afterAll(async () => {
  try {
    await h?.client.schedule.getHandle(scheduleId).delete();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  await h?.close();
});

async function policy(name: string, values: Record<string, unknown>) {
  const r = await h.request('POST', '/policies', {
    name,
    hot_max_age_s: 1,
    warm_max_age_s: 2,
    min_residency_s: 0,
    ...values,
  });
  expect(r.status).toBe(201);
}

/** A dataset of real files in the hot tier, registered at `declared` bytes (the cost model's size). */
async function dataset(name: string, policyName: string, declared = 10 * GB): Promise<number> {
  const dir = path.join(h.root, 'hot', name);
  writeTree(dir, { 'a.txt': `${name} a`, 'sub/b.txt': `${name} b` });
  const r = await h.request('POST', '/datasets', {
    name,
    path_uri: fileUri(dir),
    size_bytes: declared,
    policy: policyName,
  });
  expect(r.status).toBe(201);
  return (r.body as { id: number }).id;
}

interface Report {
  datasets: number;
  migrations: Array<{ dataset_id: number; job_id: string; recommendation_id: number }>;
  skipped: Array<{ dataset_id: number; reason: string; detail: string }>;
  error: string | null;
}

const sweepNow = async (): Promise<Report> => {
  const r = await h.request('POST', '/sweep');
  expect(r.status).toBe(200);
  return r.body as Report;
};

it('a dataset under an auto_apply policy goes cold and the scheduled sweep migrates it, with no call', async () => {
  await policy('auto', { auto_apply: true });
  const id = await dataset('auto-a', 'auto');
  const before = treeDigest(path.join(h.root, 'hot', 'auto-a'));

  expect(
    await ensureSweepSchedule(h.client, {
      scheduleId,
      taskQueue: h.taskQueue,
      intervalMs: 2000,
      log: silentLogger,
    }),
  ).toMatch(/^(created|updated)$/);
  // Running, whatever state an earlier registration (another test's dim up) left it in.
  expect((await h.client.schedule.getHandle(scheduleId).describe()).state.paused).toBe(false);

  // Nothing but the schedule acts: wait for the sweep's job to appear and complete.
  const deadline = Date.now() + 90_000;
  let jobId: string | undefined;
  while (!jobId && Date.now() < deadline) {
    const row = await h.store.db
      .selectFrom('migration_jobs')
      .select('job_id')
      .where('dataset_id', '=', id)
      .executeTakeFirst();
    jobId = row?.job_id;
    if (!jobId) await new Promise((r) => setTimeout(r, 200));
  }
  expect(jobId).toBeDefined();
  const job = await waitForJob(h, jobId!, (j) => j.status === 'completed', 60_000, 'completed');
  expect(job).toMatchObject({ requested_by: 'sweep', target_tier: 'cold' });
  expect(job.recommendation_id).toEqual(expect.any(Number));
  const rec = await h.store.db
    .selectFrom('recommendations')
    .selectAll()
    .where('id', '=', job.recommendation_id)
    .executeTakeFirstOrThrow();
  expect(rec).toMatchObject({ dataset_id: id, recommended_tier: 'cold' });

  const d = (await h.request('GET', `/datasets/${id}`)).body as Record<string, unknown>;
  expect(d).toMatchObject({
    current_tier: 'cold',
    path_uri: fileUri(path.join(h.root, 'cold', 'auto-a')),
  });
  expect(treeDigest(path.join(h.root, 'cold', 'auto-a'))).toEqual(before);

  // The schedule's runs are visible in Temporal with the sweep's report as their result.
  const runs = h.client.workflow.list({
    query: `WorkflowType = 'placementSweep' AND TaskQueue = '${h.taskQueue}'`,
  });
  let completed = 0;
  for await (const w of runs) if (w.status.name === 'COMPLETED') completed++;
  expect(completed).toBeGreaterThanOrEqual(1);

  // The test drives the rest itself: the schedule paused.
  await ensureSweepSchedule(h.client, {
    scheduleId,
    taskQueue: h.taskQueue,
    intervalMs: null,
    log: silentLogger,
  });
  const desc = await h.client.schedule.getHandle(scheduleId).describe();
  expect(desc.state.paused).toBe(true);
});

it('registering the schedule again updates the one there instead of adding another', async () => {
  await ensureSweepSchedule(h.client, {
    scheduleId,
    taskQueue: h.taskQueue,
    intervalMs: 600_000,
    log: silentLogger,
  });
  expect(
    await ensureSweepSchedule(h.client, {
      scheduleId,
      taskQueue: h.taskQueue,
      intervalMs: 900_000,
      log: silentLogger,
    }),
  ).toBe('updated');
  const desc = await h.client.schedule.getHandle(scheduleId).describe();
  expect(desc.spec.intervals).toMatchObject([{ every: 900_000 }]);
  expect(desc.action).toMatchObject({ workflowType: 'placementSweep', taskQueue: h.taskQueue });
  let same = 0;
  for await (const s of h.client.schedule.list()) if (s.scheduleId === scheduleId) same++;
  expect(same).toBe(1);
});

it('a policy that requires approval: the sweep plans the migration and it waits for approval', async () => {
  await policy('auto-approve', { auto_apply: true, require_approval: true });
  const id = await dataset('auto-b', 'auto-approve');
  const report = await sweepNow();
  const mine = report.migrations.find((m) => m.dataset_id === id);
  expect(mine).toBeDefined();
  const job = await waitForJob(
    h,
    mine!.job_id,
    (j) => j.status === 'awaiting_approval',
    30_000,
    'awaiting_approval',
  );
  expect(job).toMatchObject({ requested_by: 'sweep', require_approval: 1 });

  // Never two migrations of one dataset: the next sweep reports it busy and plans nothing.
  const again = await sweepNow();
  expect(again.migrations.find((m) => m.dataset_id === id)).toBeUndefined();
  expect(again.skipped.find((s) => s.dataset_id === id)).toMatchObject({ reason: 'busy' });
  const jobs = await h.store.db
    .selectFrom('migration_jobs')
    .select('job_id')
    .where('dataset_id', '=', id)
    .execute();
  expect(jobs).toHaveLength(1);

  const cancel = await h.request('POST', `/jobs/${mine!.job_id}/cancel`);
  expect(cancel.status).toBe(202);
  await waitForJob(h, mine!.job_id, (j) => j.status === 'cancelled', 30_000, 'cancelled');
});

it('the per-sweep cap on moves and the daily cap on bytes hold', async () => {
  // Approval keeps the planned jobs waiting, so the test sees the caps, not the copies.
  await policy('capped', {
    auto_apply: true,
    require_approval: true,
    max_moves_per_sweep: 2,
    max_bytes_per_day: 25 * GB,
  });
  const ids = [
    await dataset('cap-1', 'capped'),
    await dataset('cap-2', 'capped'),
    await dataset('cap-3', 'capped'),
    await dataset('cap-4', 'capped', 4 * GB),
  ];
  const first = await sweepNow();
  const started = first.migrations.filter((m) => ids.includes(m.dataset_id));
  expect(started).toHaveLength(2);
  const capped = first.skipped.filter((s) => ids.includes(s.dataset_id));
  expect(capped.map((s) => s.reason).sort()).toEqual(['moves_cap', 'moves_cap']);

  // Waiting for approval, a job keeps the plan's size (its workflow's first statuses must
  // not write zeros over it: the daily cap counts it).
  for (const m of started) {
    const job = await waitForJob(
      h,
      m.job_id,
      (j) => j.status === 'awaiting_approval',
      30_000,
      'awaiting_approval',
    );
    expect(Number(job.bytes_total)).toBe(10 * GB);
  }

  // 20 GB of the 25 started in the last 24 hours: a 10 GB dataset waits, the 4 GB one goes.
  const second = await sweepNow();
  const next = second.migrations.filter((m) => ids.includes(m.dataset_id));
  const skipped = second.skipped.filter((s) => ids.includes(s.dataset_id));
  expect(next.map((m) => m.dataset_id)).toEqual([ids[3]]);
  expect(skipped.filter((s) => s.reason === 'bytes_cap')).toHaveLength(1);
  expect(skipped.filter((s) => s.reason === 'busy')).toHaveLength(2);
  expect(skipped.find((s) => s.reason === 'bytes_cap')!.detail).toMatch(/25000000000 bytes/);

  for (const m of [...started, ...next]) {
    const job = await jobRow(h, m.job_id);
    expect(job.requested_by).toBe('sweep');
    await h.request('POST', `/jobs/${m.job_id}/cancel`);
  }
});

it('POST /sweep answers 409 while another sweep holds the lease', async () => {
  expect(await acquireLease(h.store.db, 'placement-sweep', 'elsewhere', 60_000)).toBeUndefined();
  try {
    const r = await h.request('POST', '/sweep');
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ type: expect.stringMatching(/sweep_running$/) });
    expect((r.body as { detail: string }).detail).toMatch(/already running \(elsewhere/);
  } finally {
    await releaseLease(h.store.db, 'placement-sweep', 'elsewhere');
  }
  expect((await h.request('POST', '/sweep')).status).toBe(200);
});
