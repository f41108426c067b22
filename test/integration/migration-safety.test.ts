import { randomUUID } from 'node:crypto';
import {
  cpSync,
  existsSync,
  linkSync,
  lstatSync,
  readFileSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { Message, Topic } from '../../events/sink';
import { retireNowSignal } from '../../workflows/migration-contract';
import {
  bundleWorkflows,
  fileUri,
  jobRow,
  listAll,
  startHarness,
  treeDigest,
  waitForStatus,
  writeTree,
  type Harness,
} from '../support/migration';

/**
 * Issue 9, items 1 and 3, end to end (API → workflow on the Temporal dev server → real
 * files): links never carry a migration outside its dataset, and retire deletes only the
 * very objects the copy read and verified, unchanged; a source that changes during the copy
 * is copied again before the switch, never switched stale.
 */
jest.setTimeout(120_000);

let h: Harness;

beforeAll(async () => {
  const bundle = await bundleWorkflows();
  h = await startHarness({
    name: 'migration-safety',
    taskQueue: `migration-safety-${randomUUID()}`,
    bundle,
    tuning: { concurrency: 4 },
  });
  // Policies decide retirement (a plan may not make it less safe than its policy).
  const policies = [
    { name: 'retire-now', retire_source: true, retire_grace_s: 0 },
    { name: 'retire-later', retire_source: true, retire_grace_s: 600 },
    { name: 'retire-linked', retire_source: true, retire_grace_s: 600, retire_linked_files: true },
  ];
  for (const p of policies) {
    const r = await h.request('POST', '/policies', p);
    if (r.status !== 201) throw new Error(`POST /policies: ${r.status} ${JSON.stringify(r.body)}`);
  }
});

afterAll(async () => {
  await h?.close();
});

const src = (...p: string[]) => path.join(h.root, 'src', ...p);
const dst = (...p: string[]) => path.join(h.root, 'dst', ...p);

async function dataset(name: string, dir: string, policy?: string): Promise<number> {
  const r = await h.request('POST', '/datasets', {
    name,
    path_uri: fileUri(dir),
    size_bytes: 0,
    ...(policy ? { policy } : {}),
  });
  if (r.status !== 201) throw new Error(`POST /datasets: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body as { id: number }).id;
}

async function plan(datasetId: number, dest: string) {
  const r = await h.request('POST', '/plan-migration', {
    dataset_id: datasetId,
    target_location: fileUri(dest),
    storage_class: 'standard',
  });
  expect(r.status).toBe(201);
  return r.body as { job_id: string; workflow_id: string };
}

/** Waits out the switch, lets `between` act during the grace period, then retires now. */
async function retireAfter(
  job: { job_id: string; workflow_id: string },
  between: () => void,
): Promise<string | null> {
  await waitForStatus(h, job.job_id, 'retiring');
  between();
  await h.client.workflow.getHandle(job.workflow_id).signal(retireNowSignal);
  return (await waitForStatus(h, job.job_id, 'completed')).error;
}

async function pathUri(id: number): Promise<string> {
  return ((await h.request('GET', `/datasets/${id}`)).body as { path_uri: string }).path_uri;
}

async function copyingRounds(jobId: string): Promise<number> {
  const rows = await h.store.db
    .selectFrom('event_log')
    .select('value')
    .where('topic', '=', 'migration_status')
    .orderBy('seq')
    .execute();
  const statuses = rows
    .map((r) => JSON.parse(r.value) as { job_id: string; status: string })
    .filter((m) => m.job_id === jobId)
    .map((m) => m.status)
    .filter((s, i, all) => s !== all[i - 1]);
  return statuses.filter((s) => s === 'copying').length;
}

describe('symbolic links inside a dataset', () => {
  test.each([
    [
      'a directory link to another dataset',
      'dirlink',
      (A: string, B: string) => symlinkSync(B, path.join(A, 'shared')),
    ],
    [
      'a file link to another dataset’s file',
      'filelink',
      (A: string) => symlinkSync('../B/f1', path.join(A, 'shared')),
    ],
  ])(
    '%s: the migration fails naming the link; the other dataset is untouched',
    async (_what, name, link) => {
      const A = src(name, 'A');
      const B = src(name, 'B');
      writeTree(A, { 'own.txt': 'A owns this' });
      writeTree(B, { f1: 'B one', 'sub/f2': 'B two' });
      link(A, B);
      const before = treeDigest(B);
      const idA = await dataset(`${name}-A`, A, 'retire-now');
      const idB = await dataset(`${name}-B`, B);
      const job = await plan(idA, dst(name));

      const failed = await waitForStatus(h, job.job_id, 'failed');
      expect(failed.error).toBe(
        `symlink_in_dataset: the dataset holds a symbolic link at ${fileUri(A)}/shared: dim does not follow links inside a dataset; replace it with the files it points to, or remove it`,
      );
      expect(treeDigest(B)).toEqual(before);
      expect(lstatSync(path.join(A, 'shared')).isSymbolicLink()).toBe(true);
      expect(readFileSync(path.join(A, 'own.txt'), 'utf8')).toBe('A owns this');
      expect(listAll(dst(name))).toEqual([]);
      expect(await pathUri(idA)).toBe(fileUri(A));
      expect(await pathUri(idB)).toBe(fileUri(B));
    },
  );
});

describe('retire deletes only what the copy read, unchanged', () => {
  test('a hard-linked source file is kept and listed, unless the policy allows it', async () => {
    const shared = src('hard', 'elsewhere', 'a-too.bin');
    writeTree(src('hard', 'elsewhere'), {});
    for (const [name, policy] of [
      ['hard-keep', 'retire-later'],
      ['hard-allow', 'retire-linked'],
    ] as const) {
      const A = src('hard', name);
      writeTree(A, { 'a.bin': `linked data of ${name}`, 'b.txt': 'only here' });
      if (existsSync(shared)) unlinkSync(shared);
      linkSync(path.join(A, 'a.bin'), shared);
      const id = await dataset(name, A, policy);
      const job = await plan(id, dst(name));
      const error = await retireAfter(job, () => undefined);
      expect(treeDigest(dst(name))).toEqual({
        'a.bin': expect.any(String),
        'b.txt': expect.any(String),
      });
      expect(existsSync(path.join(A, 'b.txt'))).toBe(false);
      expect(readFileSync(shared, 'utf8')).toBe(`linked data of ${name}`);
      if (policy === 'retire-later') {
        expect(error).toBe('retire skipped 1 changed object(s): a.bin (hard-linked)');
        expect(readFileSync(path.join(A, 'a.bin'), 'utf8')).toBe(`linked data of ${name}`);
      } else {
        expect(error).toBeNull();
        expect(existsSync(path.join(A, 'a.bin'))).toBe(false);
      }
    }
  });

  test('a source file rewritten with the same size after the copy is kept and listed', async () => {
    const A = src('rewritten');
    writeTree(A, { 'x.txt': 'version one', 'y.txt': 'stays put', 'd/z.txt': 'z' });
    const id = await dataset('rewritten', A, 'retire-later');
    const job = await plan(id, dst('rewritten'));
    const error = await retireAfter(job, () => writeFileSync(path.join(A, 'x.txt'), 'version two'));
    expect(error).toBe('retire skipped 1 changed object(s): x.txt');
    expect(readFileSync(path.join(A, 'x.txt'), 'utf8')).toBe('version two');
    expect(listAll(A)).toEqual(['x.txt']);
    expect(readFileSync(dst('rewritten', 'x.txt'), 'utf8')).toBe('version one');
    const replica = await h.store.db
      .selectFrom('replicas')
      .select('role')
      .where('dataset_id', '=', id)
      .where('uri', '=', fileUri(A))
      .executeTakeFirstOrThrow();
    expect(replica.role).toBe('stale'); // not retired: it still holds data
  });

  test('a file added after the listing is never deleted', async () => {
    const A = src('added');
    writeTree(A, { 'old.txt': 'copied', 'd/old2.txt': 'copied too' });
    const id = await dataset('added', A, 'retire-later');
    const job = await plan(id, dst('added'));
    const error = await retireAfter(job, () =>
      writeTree(A, { 'new.txt': 'arrived later', 'd/new2.txt': 'also' }),
    );
    expect(error).toBeNull();
    expect(treeDigest(A)).toEqual({
      'new.txt': expect.any(String),
      'd/new2.txt': expect.any(String),
    });
    expect(readFileSync(path.join(A, 'new.txt'), 'utf8')).toBe('arrived later');
    expect(existsSync(dst('added', 'new.txt'))).toBe(false);
  });

  test('a source root re-pointed after the copy deletes nothing and says so', async () => {
    const v1 = src('repoint', 'v1');
    const v2 = src('repoint', 'v2');
    const current = src('repoint', 'current');
    writeTree(v1, { 'a.txt': 'same bytes', 'b/c.txt': 'in both' });
    cpSync(v1, v2, { recursive: true });
    symlinkSync(v1, current);
    const id = await dataset('repoint', current, 'retire-later');
    const job = await plan(id, dst('repoint'));
    const error = await retireAfter(job, () => {
      unlinkSync(current);
      symlinkSync(v2, current);
    });
    expect(error).toBe(
      `retire deleted nothing: the source ${fileUri(current)} now resolves to ${v2}, not to ${v1} as when it was copied`,
    );
    expect(Object.keys(treeDigest(v1)).sort()).toEqual(['a.txt', 'b/c.txt']);
    expect(Object.keys(treeDigest(v2)).sort()).toEqual(['a.txt', 'b/c.txt']);
    expect(treeDigest(dst('repoint'))).toEqual(treeDigest(v1));
  });
});

describe('a source that changes during the copy', () => {
  /** Rewrites a source file each time the job enters `verifying` (the copy has finished). */
  const rewriteOnVerify = (jobId: () => string, file: string, times: number) => {
    let n = 0;
    h.sink.onPublish = (topic: Topic, messages: Message[]) => {
      const m = messages[0]?.value as { job_id?: string; status?: string } | undefined;
      if (topic === 'migration_status' && m?.job_id === jobId() && m.status === 'verifying') {
        if (n < times) writeFileSync(file, `rewrite #${++n}`.padEnd(12, '.'));
      }
    };
    return () => n;
  };

  afterEach(() => {
    h.sink.onPublish = undefined;
  });

  test('is copied again before the switch: the destination ends with the new content', async () => {
    const A = src('changing');
    writeTree(A, { 'a.txt': 'original....', 'b.txt': 'steady' });
    const id = await dataset('changing', A);
    let jobId = '';
    const rewrites = rewriteOnVerify(() => jobId, path.join(A, 'a.txt'), 1);
    const job = await plan(id, dst('changing'));
    jobId = job.job_id;
    const done = await waitForStatus(h, job.job_id, 'completed');
    expect(rewrites()).toBe(1);
    expect(done.error).toBeNull();
    expect(readFileSync(dst('changing', 'a.txt'), 'utf8')).toBe('rewrite #1..');
    expect(treeDigest(dst('changing'))).toEqual(treeDigest(A));
    expect(await copyingRounds(job.job_id)).toBe(2);
    expect(await pathUri(id)).toBe(fileUri(dst('changing')));
  });

  test('that keeps changing fails clearly after 3 rounds, never switched', async () => {
    const A = src('restless');
    writeTree(A, { 'a.txt': 'original....', 'b.txt': 'steady' });
    const id = await dataset('restless', A);
    let jobId = '';
    rewriteOnVerify(() => jobId, path.join(A, 'a.txt'), 100);
    const job = await plan(id, dst('restless'));
    jobId = job.job_id;
    const failed = await waitForStatus(h, job.job_id, 'failed');
    expect(failed.error).toMatch(
      /^source_changed: the source kept changing during the copy: after 3 rounds, 1 object\(s\) still differ from what was copied \(a\.txt \(changed\)\)/,
    );
    expect(await copyingRounds(job.job_id)).toBe(3);
    expect(await pathUri(id)).toBe(fileUri(A));
    expect(listAll(dst('restless'))).toEqual([]);
    expect((await jobRow(h, job.job_id)).status).toBe('failed');
  });
});
