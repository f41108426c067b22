import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { approveSignal, progressQuery } from '../../workflows/migration-contract';
import {
  bundleWorkflows,
  fileUri,
  jobRow,
  startHarness,
  treeDigest,
  waitForJob,
  waitForStatus,
  writeTree,
  type Harness,
} from '../support/migration';

/**
 * Invariant 10 end to end, through the API and a real worker on the Temporal dev server:
 * a plan may make a migration safer than its policy, never less safe without the admin
 * role; a four-eyes policy refuses an approval by the planner, through the API and through
 * a signal sent straight to Temporal; who planned, approved and retired is recorded in the
 * job and the audit log.
 */
jest.setTimeout(120_000);

let h: Harness;
const keys = {
  alice: { name: 'alice', role: 'operator' as const, secret: 'alice-secret-key-0001' },
  bob: { name: 'bob', role: 'operator' as const, secret: 'bob-secret-key-00002' },
  carol: { name: 'carol', role: 'operator' as const, secret: 'carol-secret-key-003' },
  root: { name: 'root', role: 'admin' as const, secret: 'root-secret-key-0004' },
};
type Who = keyof typeof keys;

beforeAll(async () => {
  h = await startHarness({
    name: 'migration-policy',
    taskQueue: `migration-policy-${randomUUID()}`,
    bundle: await bundleWorkflows(),
    apiKeys: Object.values(keys),
  });
});

afterAll(async () => {
  await h?.close();
});

const as = (who: Who, method: string, p: string, body?: unknown) =>
  h.request(method, p, body, { authorization: `Bearer ${keys[who].secret}` });

const src = (name: string) => path.join(h.root, 'src', name);
const dst = (name: string) => path.join(h.root, 'dst', name);

async function policy(name: string, values: Record<string, unknown>) {
  const r = await as('root', 'POST', '/policies', { name, ...values });
  expect(r.status).toBe(201);
}

async function dataset(name: string, policyName: string): Promise<number> {
  writeTree(src(name), { 'a.txt': `${name} a`, 'sub/b.txt': `${name} b` });
  const r = await as('alice', 'POST', '/datasets', {
    name,
    path_uri: fileUri(src(name)),
    size_bytes: 0,
    policy: policyName,
  });
  expect(r.status).toBe(201);
  return (r.body as { id: number }).id;
}

interface JobBody {
  job_id: string;
  workflow_id: string;
  require_approval: boolean;
  retire_source: boolean;
  retire_grace_s: number;
  four_eyes: boolean;
  requested_by: string;
  approved_by: string | null;
  retired_by: string | null;
}

async function audit(jobId: string) {
  return h.store.db
    .selectFrom('audit_log')
    .select(['actor', 'action'])
    .where('target', '=', `job:${jobId}`)
    .orderBy('id')
    .execute();
}

test('an operator may not loosen the policy: skip its approval, retire a source it keeps, shorten its grace', async () => {
  await policy('strict', { require_approval: true, retire_source: false, retire_grace_s: 0 });
  await policy('retiring', { retire_source: true, retire_grace_s: 3600 });
  const strict = await dataset('loosen-strict', 'strict');
  const retiring = await dataset('loosen-retiring', 'retiring');

  const cases: [number, Record<string, unknown>, string][] = [
    [strict, { require_approval: false }, 'body.require_approval'],
    [strict, { retire_source: true }, 'body.retire_source'],
    [retiring, { retire_grace_s: 10 }, 'body.retire_grace_s'],
  ];
  for (const [id, loosen, field] of cases) {
    const r = await as('alice', 'POST', '/plan-migration', {
      dataset_id: id,
      target_location: fileUri(dst(`loosen-${id}-${field}`)),
      ...loosen,
    });
    expect({ field, status: r.status, body: r.body }).toMatchObject({
      status: 403,
      body: {
        type: expect.stringMatching(/forbidden$/),
        field,
        detail: expect.stringContaining('only an admin'),
      },
    });
    expect(existsSync(dst(`loosen-${id}-${field}`))).toBe(false);
  }
  // Nothing was recorded for the refused plans.
  const jobs = await h.store.db.selectFrom('migration_jobs').select('job_id').execute();
  expect(jobs).toHaveLength(0);

  // Safer than the policy is always allowed: a longer grace, keeping the source.
  const safer = await as('alice', 'POST', '/plan-migration', {
    dataset_id: retiring,
    target_location: fileUri(dst('loosen-safer')),
    retire_source: false,
  });
  expect(safer.status).toBe(201);
  expect(safer.body).toMatchObject({ retire_source: false, retire_grace_s: 3600 });
  await waitForStatus(h, (safer.body as JobBody).job_id, 'completed');
  expect(Object.keys(treeDigest(src('loosen-retiring')))).toHaveLength(2); // kept
});

test('an admin may retire a source its policy keeps, and the job records who retired it', async () => {
  await policy('keeper', { retire_source: false });
  const id = await dataset('admin-retire', 'keeper');
  const before = treeDigest(src('admin-retire'));
  const r = await as('root', 'POST', '/plan-migration', {
    dataset_id: id,
    target_location: fileUri(dst('admin-retire')),
    retire_source: true,
  });
  expect(r.status).toBe(201);
  const job = r.body as JobBody;
  expect(job).toMatchObject({ retire_source: true, requested_by: 'root' });
  await waitForStatus(h, job.job_id, 'completed');
  expect(treeDigest(dst('admin-retire'))).toEqual(before);
  expect(treeDigest(src('admin-retire'))).toEqual({});
  const row = await jobRow(h, job.job_id);
  expect(row.retired_by).toBe('policy');
  expect((await as('bob', 'GET', `/jobs/${job.job_id}`)).body).toMatchObject({
    retired_by: 'policy',
    requested_by: 'root',
  });
  expect(await audit(job.job_id)).toEqual([
    { actor: 'root', action: 'job.planned' },
    { actor: 'policy', action: 'job.retired' },
  ]);
});

test('four eyes: the planner cannot approve, through the API or straight through Temporal; another operator can', async () => {
  await policy('four-eyes', { require_approval: true, four_eyes: true });
  const id = await dataset('four-eyes', 'four-eyes');
  const r = await as('alice', 'POST', '/plan-migration', {
    dataset_id: id,
    target_location: fileUri(dst('four-eyes')),
  });
  expect(r.status).toBe(201);
  const job = r.body as JobBody;
  expect(job).toMatchObject({ require_approval: true, four_eyes: true, requested_by: 'alice' });
  await waitForStatus(h, job.job_id, 'awaiting_approval');

  // Through the API: 403, saying why.
  const self = await as('alice', 'POST', `/jobs/${job.job_id}/approve`);
  expect(self).toMatchObject({
    status: 403,
    body: {
      type: expect.stringMatching(/forbidden$/),
      detail: expect.stringContaining('four eyes'),
    },
  });

  // Straight through Temporal (as the Web UI or `temporal workflow signal` would): ignored
  // by the workflow, which records the refusal and keeps waiting.
  const handle = h.client.workflow.getHandle(job.workflow_id);
  await handle.signal(approveSignal, { by: 'alice' });
  await handle.signal(approveSignal); // nobody named: refused under four eyes too
  const p = await handle.query(progressQuery);
  expect(p.approved_by).toBeNull();
  expect(p.approval_refusals).toEqual([
    expect.objectContaining({ by: 'alice', reason: expect.stringContaining('four eyes') }),
    expect.objectContaining({ by: 'unknown', reason: expect.stringContaining('who approves') }),
  ]);
  expect((await jobRow(h, job.job_id)).status).toBe('awaiting_approval');
  expect(existsSync(dst('four-eyes'))).toBe(false);

  // Another operator approves: the migration runs, and the job says who did what.
  const ok = await as('bob', 'POST', `/jobs/${job.job_id}/approve`);
  expect(ok.status).toBe(202);
  const done = await waitForStatus(h, job.job_id, 'completed');
  expect(done).toMatchObject({ requested_by: 'alice', approved_by: 'bob', retired_by: null });
  expect(treeDigest(dst('four-eyes'))).toEqual(treeDigest(src('four-eyes')));
  expect(await audit(job.job_id)).toEqual([
    { actor: 'alice', action: 'job.planned' },
    { actor: 'bob', action: 'job.approved' },
  ]);
});

test('an approver list: only the named callers may approve, whichever way the approval comes', async () => {
  await policy('listed', { require_approval: true, approvers: ['carol'] });
  const id = await dataset('listed', 'listed');
  const r = await as('alice', 'POST', '/plan-migration', {
    dataset_id: id,
    target_location: fileUri(dst('listed')),
  });
  const job = r.body as JobBody;
  await waitForStatus(h, job.job_id, 'awaiting_approval');
  const bob = await as('bob', 'POST', `/jobs/${job.job_id}/approve`);
  expect(bob).toMatchObject({
    status: 403,
    body: { detail: expect.stringContaining('not among the policy') },
  });
  const handle = h.client.workflow.getHandle(job.workflow_id);
  await handle.signal(approveSignal, { by: 'mallory' });
  expect((await handle.query(progressQuery)).approval_refusals).toEqual([
    expect.objectContaining({ by: 'mallory' }),
  ]);
  expect((await jobRow(h, job.job_id)).status).toBe('awaiting_approval');
  expect((await as('carol', 'POST', `/jobs/${job.job_id}/approve`)).status).toBe(202);
  await waitForJob(h, job.job_id, (j) => j.status === 'completed' && j.approved_by === 'carol');
});

test('an operator may not skip a required approval, an admin may; a chosen job_key is its caller own', async () => {
  await policy('approve-me', { require_approval: true });
  const id = await dataset('skip-approval', 'approve-me');
  const body = {
    dataset_id: id,
    target_location: fileUri(dst('skip-approval')),
    require_approval: false,
    job_key: `skip-approval-${randomUUID()}`,
  };
  expect((await as('alice', 'POST', '/plan-migration', body)).status).toBe(403);
  const r = await as('root', 'POST', '/plan-migration', body);
  expect(r.status).toBe(201);
  expect(r.body).toMatchObject({ require_approval: false });
  await waitForStatus(h, (r.body as JobBody).job_id, 'completed');

  // The same job_key from another caller is a 409, never root's job.
  const other = await as('alice', 'POST', '/plan-migration', {
    ...body,
    require_approval: undefined,
  });
  expect(other).toMatchObject({ status: 409, body: { field: 'body.job_key' } });
  expect(JSON.stringify(other.body)).not.toContain((r.body as JobBody).job_id);
});
