import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTestApi, type TestApi } from '../support/api';
import { dimBin, freePort, repoRoot, startDim, tempDir } from '../support/dim-process';
import { datasetRow } from '../support/rows';
import { defaultTiers } from '../../placement';
import { ensureDefaultTiers } from '../../store/tiers';

/**
 * The real `dim` binary (bin/dim.js, built by `npm run build`) against the API in-process on
 * a temporary store: the client commands that need no worker, their tables, --json, errors
 * and exit codes, and `jobs watch` following a job row to its end.
 */
jest.setTimeout(180_000);

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs `dim ...args`; `onOut` sees stdout as it comes (to act while the command runs). */
function dim(
  args: string[],
  opts: {
    env?: Record<string, string>;
    input?: string;
    onOut?: (soFar: string) => void;
    /** Under a pseudo-terminal (util-linux `script`): stdout is a TTY then. */
    tty?: boolean;
  } = {},
): Promise<Run> {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const [cmd, argv] = opts.tty
    ? ['script', ['-qec', [process.execPath, dimBin, ...args].map(quote).join(' '), '/dev/null']]
    : [process.execPath, [dimBin, ...args]];
  const child = spawn(cmd, argv, {
    cwd: repoRoot,
    env: { ...process.env, DIM_URL: api.url, DIM_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    opts.onOut?.(out);
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

async function addJob(overrides: Record<string, unknown>) {
  const d = await api.store.db
    .insertInto('datasets')
    .values(datasetRow(`job-ds-${randomUUID()}`, `file:///shared_storage/j-${randomUUID()}`))
    .returning('id')
    .executeTakeFirstOrThrow();
  const jobId = randomUUID();
  const t = Date.now();
  await api.store.db
    .insertInto('migration_jobs')
    .values({
      job_id: jobId,
      job_key: `k-${jobId}`,
      dataset_id: d.id,
      source_uri: 'file:///shared_storage/src',
      dest_uri: 'file:///shared_storage/dst',
      dest_storage_class: 'standard',
      target_tier: 'cold',
      status: 'copying',
      error: null,
      workflow_id: `migration-k-${jobId}`,
      run_id: null,
      recommendation_id: null,
      requested_by: 'test',
      require_approval: 0,
      retire_source: 0,
      approved_by: null,
      cancelled_by: null,
      retired_by: null,
      bytes_done: 0,
      bytes_total: 0,
      objects_done: 0,
      objects_total: 0,
      submitted_at: t,
      updated_at: t,
      source_key: null,
      dest_key: null,
      ...overrides,
    })
    .execute();
  return jobId;
}

describe('dim (the CLI) against the API', () => {
  it('--help lists every command, with examples', async () => {
    const r = await dim(['--help']);
    expect(r.code).toBe(0);
    for (const c of [
      'up',
      'api',
      'worker',
      'bridge',
      'storage',
      'datasets',
      'events',
      'recs',
      'sweep',
      'plan',
      'jobs',
      'policies',
      'tiers',
      'train',
    ]) {
      expect(r.out).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    }
    const ls = await dim(['datasets', 'ls', '--help']);
    expect(ls.out).toMatch(/Example:\n {2}dim datasets ls --tier hot --all/);
  });

  it('recs shows the current advice, sweep stores it (then recs names its id)', async () => {
    await ensureDefaultTiers(api.store.db, defaultTiers(api.dataDir));
    const name = `recs-${randomUUID()}`;
    const add = await dim([
      'datasets',
      'add',
      name,
      `file:///shared_storage/${name}`,
      '--size',
      '10000000000',
      '--json',
    ]);
    expect(add.code).toBe(0);
    const id = (JSON.parse(add.out) as { id: number }).id;
    const before = await dim(['recs', name, '--json']);
    expect(before.code).toBe(0);
    expect(JSON.parse(before.out).items).toEqual([
      expect.objectContaining({ id: null, dataset_id: id, recommended_tier: 'cold' }),
    ]);
    const sweep = await dim(['sweep']);
    expect(sweep.code).toBe(0);
    expect(sweep.out).toMatch(
      /^swept \d+ datasets: \d+ recommendations stored, \d+ advise a move; 0 migrations started, 0 skipped\n/,
    );
    const after = await dim(['recs', name, '--json']);
    expect(JSON.parse(after.out).items[0].id).toEqual(expect.any(Number));
    const human = await dim(['recs', name]);
    expect(human.out).toMatch(/^ID\s+DATASET\s+CURRENT\s+RECOMMENDED/);
    expect(human.out).toMatch(/Never accessed → cold/);
  });

  it('bad usage: one line on stderr, exit 2', async () => {
    for (const args of [
      ['frobnicate'],
      ['datasets', 'ls', '--tier', 'lukewarm'],
      ['plan', '1'],
      ['datasets', 'add', 'only-a-name'],
      ['datasets', 'add', 'x', 'file:///shared_storage/x', '--size', 'big'],
    ]) {
      const r = await dim(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(/^dim: /);
    }
  });

  it('datasets add, ls, show, rm: tables for humans, the API JSON with --json', async () => {
    const name = `cli-${randomUUID().slice(0, 8)}`;
    const add = await dim([
      'datasets',
      'add',
      name,
      `file:///shared_storage/${name}`,
      '--size',
      '2048',
      '--owner',
      'ops',
      '--json',
    ]);
    expect(add.err).toBe('');
    expect(add.code).toBe(0);
    const created = JSON.parse(add.out);
    expect(created).toMatchObject({ name, size_bytes: 2048, owner: 'ops', current_tier: 'hot' });

    const show = await dim(['datasets', 'show', name, '--json']);
    expect(JSON.parse(show.out)).toEqual(
      (await api.request('GET', `/datasets/${created.id}`)).body,
    );

    const ls = await dim(['datasets', 'ls', '--owner', 'ops']);
    expect(ls.code).toBe(0);
    const lines = ls.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ID\s+NAME\s+TIER\s+SIZE\s+OBJECTS\s+OWNER\s+POLICY\s+LAST ACCESS\s+LOCATION$/,
    );
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${created.id}\\s+${name}\\s+hot\\s+2\\.0 KiB\\s+0\\s+ops\\s+-\\s+-\\s+file:///shared_storage/${name}$`,
        ),
      ),
    ]);

    const rm = await dim(['datasets', 'rm', String(created.id)]);
    expect(rm.out).toBe(`removed dataset ${created.id}\n`);
    expect((await api.request('GET', `/datasets/${created.id}`)).status).toBe(404);
  });

  it('datasets ls --all follows next_cursor; without it, the first page and a hint', async () => {
    const owner = `many-${randomUUID().slice(0, 8)}`;
    await api.store.db
      .insertInto('datasets')
      .values(
        Array.from({ length: 130 }, (_, i) =>
          datasetRow(`${owner}-${i}`, `file:///shared_storage/${owner}/${i}`, { owner }),
        ),
      )
      .execute();
    const first = await dim(['datasets', 'ls', '--owner', owner, '--json']);
    const page = JSON.parse(first.out);
    expect(page.items).toHaveLength(100);
    expect(page.next_cursor).not.toBeNull();
    const human = await dim(['datasets', 'ls', '--owner', owner]);
    expect(human.err).toMatch(/--all lists every one/);
    const all = JSON.parse(
      (await dim(['datasets', 'ls', '--owner', owner, '--all', '--json'])).out,
    );
    expect(all.items.map((d: { name: string }) => d.name).sort()).toEqual(
      Array.from({ length: 130 }, (_, i) => `${owner}-${i}`).sort(),
    );
    expect(all.next_cursor).toBeNull();
  });

  it('an unknown dataset: one line with the API’s reason, exit 1', async () => {
    const r = await dim(['datasets', 'show', '999999']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^dim: .*999999.* \(HTTP 404\)\n$/);
    const byName = await dim(['datasets', 'show', 'no-such-dataset']);
    expect(byName.code).toBe(1);
    expect(byName.err).toBe(
      'dim: dataset "no-such-dataset" not found (dim datasets ls lists them)\n',
    );
  });

  it('bad input the API refuses names the field; exit 2', async () => {
    const r = await dim(['datasets', 'add', 'rel', 'file:relative/path']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^dim: body\.path_uri: .* \(HTTP 400\)\n$/);
  });

  it('no dim at the URL: says to start it, no stack trace', async () => {
    const r = await dim(['jobs', 'ls'], {
      env: { DIM_URL: `http://127.0.0.1:${await freePort()}` },
    });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^dim: cannot reach dim at http:\/\/127\.0\.0\.1:\d+ \(connection refused\); is dim running\? start it with `dim up`/,
    );
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });

  it('events send from stdin: batched, counted; a bad line names its number', async () => {
    const d = await api.request('POST', '/datasets', {
      name: `ev-${randomUUID().slice(0, 8)}`,
      path_uri: `file:///shared_storage/ev-${randomUUID()}`,
    });
    const lines = Array.from({ length: 2500 }, () =>
      JSON.stringify({ dataset_id: d.body.id, op: 'read', size_bytes: 10, client_lat_ms: 3 }),
    );
    const r = await dim(['events', 'send', '--json'], { input: lines.join('\n') + '\n' });
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({ accepted: 2500 });
    const human = await dim(['events', 'send', '-'], { input: lines.slice(0, 3).join('\n') });
    expect(human.out).toBe('accepted 3 events\n');

    const broken = await dim(['events', 'send'], { input: `${lines[0]}\n{not json\n` });
    expect(broken.code).toBe(2);
    expect(broken.err).toMatch(
      /^dim: stdin line 2: not valid JSON .*; 0 events accepted before it\n$/,
    );
    const refused = await dim(['events', 'send'], {
      input: `${lines[0]}\n${JSON.stringify({ dataset_id: d.body.id, op: 'scribble' })}\n`,
    });
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(
      /^dim: stdin line 2: body\[1\]\.op: .*\(HTTP 400\); 0 events accepted before it\n$/,
    );
  });

  it('jobs limit: human units, one line for a bad rate or a job that ended; watch shows rate and limit', async () => {
    const bad = await dim(['jobs', 'limit', randomUUID(), 'fast']);
    expect(bad.code).toBe(2);
    expect(bad.err.trimEnd().split('\n')).toHaveLength(1);
    expect(bad.err).toMatch(/"fast" is no bandwidth/);

    const ended = await addJob({ status: 'completed', max_bytes_per_s: 1024 });
    const late = await dim(['jobs', 'limit', ended, '10MiB']);
    expect(late.code).toBe(1);
    expect(late.err).toMatch(/^dim: job \S+ has ended \(completed\).*\(HTTP 409\)\n$/);
    const show = await dim(['jobs', 'show', ended]);
    expect(show.out).toMatch(/^bandwidth limit\s+1\.0 KiB\/s \(1024 B\/s\)$/m);

    const running = await addJob({
      bytes_total: 4096,
      bytes_done: 1024,
      objects_total: 4,
      objects_done: 1,
      max_bytes_per_s: 10 * 1024 * 1024,
      bytes_per_s: 2048,
    });
    let finished = false;
    const r = await dim(['jobs', 'watch', running], {
      onOut: (soFar) => {
        if (finished || !soFar.includes('\n')) return;
        finished = true;
        void api.store.db
          .updateTable('migration_jobs')
          .set({ status: 'completed', bytes_done: 4096, objects_done: 4, bytes_per_s: null })
          .where('job_id', '=', running)
          .execute();
      },
    });
    expect(r.code).toBe(0);
    // The copy's own rate (progress.bytes_per_s), and the job's limit.
    expect(r.out.split('\n')[0]).toMatch(
      /^copying\s+1\.0 KiB \/ 4\.0 KiB \(25%\)\s+1\/4 objects\s+2\.0 KiB\/s\s+ETA 2s\s+\(limit 10\.0 MiB\/s\)$/,
    );
  });

  it('jobs ls and show: table and JSON', async () => {
    const jobId = await addJob({ status: 'failed', error: 'copy: disk full' });
    const show = await dim(['jobs', 'show', jobId, '--json']);
    expect(JSON.parse(show.out)).toEqual((await api.request('GET', `/jobs/${jobId}`)).body);
    const ls = await dim(['jobs', 'ls', '--status', 'failed']);
    expect(ls.out.split('\n')[0]).toMatch(
      /^JOB\s+DATASET\s+STATUS\s+PROGRESS\s+DESTINATION\s+SUBMITTED$/,
    );
    expect(ls.out).toMatch(new RegExp(`^${jobId}\\s+\\d+\\s+failed\\s`, 'm'));
  });

  it('jobs watch: progress lines until the job ends; exit 0 on completed, 1 on failed', async () => {
    const jobId = await addJob({
      bytes_total: 4096,
      bytes_done: 1024,
      objects_total: 4,
      objects_done: 1,
    });
    let finished = false;
    const r = await dim(['jobs', 'watch', jobId], {
      onOut: (soFar) => {
        // Once the first line is out, the job moves on and ends (as the workflow would).
        if (finished || !soFar.includes('\n')) return;
        finished = true;
        void api.store.db
          .updateTable('migration_jobs')
          .set({ status: 'completed', bytes_done: 4096, objects_done: 4, updated_at: Date.now() })
          .where('job_id', '=', jobId)
          .execute();
      },
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^copying\s+1\.0 KiB \/ 4\.0 KiB \(25%\)\s+1\/4 objects\s+\S+\s+ETA \S+$/,
    );
    expect(lines.at(-2)).toMatch(/^completed\s+4\.0 KiB \/ 4\.0 KiB \(100%\)\s+4\/4 objects/);
    expect(lines.at(-1)).toBe(`job ${jobId} completed`);

    const failed = await addJob({ status: 'failed', error: 'verify: checksum mismatch' });
    const f = await dim(['jobs', 'watch', failed]);
    expect(f.code).toBe(1);
    expect(f.out.trimEnd().split('\n').at(-1)).toBe(
      `job ${failed} failed: verify: checksum mismatch`,
    );
  });

  it('jobs watch on a terminal redraws one line in place', async () => {
    const jobId = await addJob({ bytes_total: 2048, bytes_done: 512, objects_total: 2 });
    let finished = false;
    const r = await dim(['jobs', 'watch', jobId], {
      tty: true,
      onOut: (soFar) => {
        if (finished || !soFar.includes('copying')) return;
        finished = true;
        void api.store.db
          .updateTable('migration_jobs')
          .set({ status: 'completed', bytes_done: 2048, objects_done: 2, updated_at: Date.now() })
          .where('job_id', '=', jobId)
          .execute();
      },
    });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\r\x1b\[2Kcopying\s+512 B \/ 2\.0 KiB \(25%\)/);
    expect(r.out).toMatch(
      /\r\x1b\[2Kcompleted\s+2\.0 KiB \/ 2\.0 KiB \(100%\)[^\r\n]*\r?\njob \S+ completed\r?\n$/,
    );
  });

  it('with API keys: --key or DIM_API_KEY is sent as a bearer token; a 401/403 is one line', async () => {
    const secured = await startTestApi({
      apiKeys: [{ name: 'viewer', role: 'viewer', secret: 'viewer-secret-0123456789' }],
    });
    try {
      const env = { DIM_URL: secured.url };
      const none = await dim(['datasets', 'ls'], { env });
      expect(none.code).toBe(1);
      expect(none.err).toMatch(/^dim: .*\(HTTP 401\)\n$/);
      const byFlag = await dim(['datasets', 'ls', '--key', 'viewer-secret-0123456789'], { env });
      expect(byFlag.err).toBe('');
      expect(byFlag.code).toBe(0);
      const byEnv = await dim(['datasets', 'ls'], {
        env: { ...env, DIM_API_KEY: 'viewer-secret-0123456789' },
      });
      expect(byEnv.code).toBe(0);
      const forbidden = await dim(['datasets', 'add', 'x', 'file:///shared_storage/x'], {
        env: { ...env, DIM_API_KEY: 'viewer-secret-0123456789' },
      });
      expect(forbidden.code).toBe(1);
      expect(forbidden.err).toMatch(/^dim: .*\(HTTP 403\)\n$/);
    } finally {
      await secured.close();
    }
  });

  it('train: a summary of the new model (version, window, accuracy vs naive); --json the API answer; bad days exit 2', async () => {
    const r = await dim(['train', '--window-days', '7', '--holdout-days', '1']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^model forecast-\d+ trained on \d+ datasets/);
    expect(r.out).toMatch(/^window {4}\S+ \.\. \S+ \(7 days; the last 1 held out from \S+\)$/m);
    expect(r.out).toMatch(/^accuracy {2}WAPE of hourly reads \S+, naive last value \S+ /m);
    const j = await dim(['train', '--json']);
    const m = JSON.parse(j.out);
    expect(m.window.days).toBe(30);
    expect((await api.request('GET', `/models/${m.version}`)).body).toEqual(m);
    const bad = await dim(['train', '--window-days', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^dim: .*whole number of days/);
    const refused = await dim(['train', '--window-days', '2', '--holdout-days', '2']);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/holdout_days: must be less than window_days \(2\)/);
  });

  it('tiers put FILE and show; policies put, show, ls', async () => {
    const file = path.join(api.dataDir, 'tiers.json');
    const tier = (name: string, ms: number) => ({
      name,
      location_template: `file://${api.dataDir}/storage/${name}/{name}`,
      storage_class: 'standard',
      read_latency_ms: ms,
      price_gb_month: 0.01,
    });
    writeFileSync(
      file,
      JSON.stringify({ items: [tier('hot', 1), tier('warm', 10), tier('cold', 100)] }),
    );
    const put = await dim(['tiers', 'put', file]);
    expect(put.err).toBe('');
    expect(put.out).toMatch(/^hot\s+file:\/\/\S+\/storage\/hot\/\{name\}\s+standard\s+1\s/m);
    const tiers = await dim(['tiers', 'show', '--json']);
    expect(JSON.parse(tiers.out)).toEqual((await api.request('GET', '/tiers')).body);
    const table = await dim(['tiers', 'show']);
    expect(table.out.split('\n')[0]).toMatch(/^TIER\s+LOCATION\s+CLASS/);
    expect(table.out.trimEnd().split('\n')).toHaveLength(4);
    const missing = await dim(['tiers', 'put', path.join(api.dataDir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^dim: cannot read \S+nope\.json \(ENOENT\)\n$/);

    const name = `p-${randomUUID().slice(0, 8)}`;
    const putPolicy = await dim(['policies', 'put', '-'], {
      input: JSON.stringify({ name, pinned_tier: 'cold' }),
    });
    expect(putPolicy.err).toBe('');
    expect(putPolicy.out).toBe(`policy ${name} saved\n`);
    const show = await dim(['policies', 'show', name, '--json']);
    expect(JSON.parse(show.out)).toEqual((await api.request('GET', `/policies/${name}`)).body);
    const ls = await dim(['policies', 'ls']);
    expect(ls.out).toMatch(new RegExp(`^${name}\\s+cold\\s`, 'm'));
  });
});

describe('dim plan --wait against dim up (a real migration on the Temporal dev server)', () => {
  it('plans, draws progress lines, ends with completed and exit 0; the files are copied', async () => {
    const dataDir = tempDir('cli-up');
    const src = path.join(dataDir, 'storage', 'src');
    mkdirSync(path.join(src, 'nested'), { recursive: true });
    writeFileSync(path.join(src, 'a.bin'), randomBytes(300_000));
    writeFileSync(path.join(src, 'nested', 'b.txt'), 'hello\n');
    const up = await startDim('up', {
      DIM_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      // Its own task queue: other checkouts' workers share this Temporal server.
      DIM_TASK_QUEUE: `cli-test-${randomUUID()}`,
      DIM_API_PORT: String(await freePort()),
      DIM_WORKER_PORT: String(await freePort()),
    });
    try {
      const env = { DIM_URL: up.ready.api! };
      const name = `cli-mv-${randomUUID().slice(0, 8)}`;
      const add = await dim(['datasets', 'add', name, `file://${src}`], { env });
      expect(add.err).toBe('');
      const dest = path.join(dataDir, 'storage', 'dst');
      // A dry run first: what would move and which checks pass; nothing starts.
      const dry = await dim(['plan', name, '--to', `file://${dest}`, '--dry-run'], { env });
      expect(dry.code).toBe(0);
      expect(dry.out).toMatch(/^dry run: dataset \d+ .* nothing was started$/m);
      expect(dry.out).toMatch(/^ {2}ok {9}destination_free_of_datasets: passed$/m);
      const dryJson = JSON.parse(
        (await dim(['plan', name, '--to', `file://${dest}`, '--dry-run', '--json'], { env })).out,
      );
      expect(dryJson).toMatchObject({ dry_run: true, ok: true, existing_job_id: null });
      expect(JSON.parse((await dim(['jobs', 'ls', '--json'], { env })).out).items).toEqual([]);
      // Into its own location: a failed check, exit 1, still nothing started.
      const bad = await dim(['plan', name, '--to', `file://${src}/inner`, '--dry-run'], { env });
      expect(bad.code).toBe(1);
      expect(bad.out).toMatch(/^ {2}FAIL {7}destination_free_of_datasets: /m);
      const r = await dim(['plan', name, '--to', `file://${dest}`, '--wait'], { env });
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const lines = r.out.trimEnd().split('\n');
      expect(lines[0]).toMatch(
        new RegExp(`^planned job [0-9a-f-]{36}: file://${src} -> file://${dest}$`),
      );
      const jobId = lines[0]!.split(' ')[2]!.replace(/:$/, '');
      expect(lines.slice(1, -1).length).toBeGreaterThan(0);
      for (const l of lines.slice(1, -1))
        expect(l).toMatch(/^[a-z_]+\s+\S+ \S+ \/ \S+ \S+.*objects\s+\S+\s+ETA \S+$/);
      expect(lines.at(-2)).toMatch(/^completed\s+.*\(100%\)\s+2\/2 objects/);
      expect(lines.at(-1)).toBe(`job ${jobId} completed`);
      expect(readFileSync(path.join(dest, 'nested', 'b.txt'), 'utf8')).toBe('hello\n');
      expect(
        readFileSync(path.join(dest, 'a.bin')).equals(readFileSync(path.join(src, 'a.bin'))),
      ).toBe(true);

      const show = JSON.parse((await dim(['datasets', 'show', name, '--json'], { env })).out);
      expect(show.path_uri).toBe(`file://${dest}`);
    } finally {
      up.child.kill('SIGTERM');
      await up.exited;
    }
  });
});
