import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { OpenedDb } from '../../store/db';
import { freePort, repoRoot, startDim, tempDir, type DimProcess } from '../support/dim-process';
import { openTestStore, testBackend, testDatabaseUrl, testSchemaName } from '../support/store';
import { waitFor } from '../support/telemetry';

/**
 * The README's Quickstart, run as written: its `curl` lines, taken from the README itself,
 * against `dim up` (with the dev/services Temporal), on the project's backend: SQLite
 * (project `integration`) or PostgreSQL with `DIM_DATABASE_URL` (project `integration-pg`,
 * a schema of its own named in the URL). Only the port and the /shared_storage root are
 * changed (the tests share both).
 */
jest.setTimeout(180_000);

/** The Quickstart's curl commands, continuation lines joined, in order. */
function quickstartCurls(): string[] {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('## Quickstart');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const lines = blocks
    .join('\n')
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim());
  return lines.filter((l) => l.startsWith('curl ') || l.startsWith('mkdir '));
}

describe(`the README Quickstart on ${testBackend}`, () => {
  let dim: DimProcess | undefined;
  let store: OpenedDb | undefined;
  afterAll(async () => {
    dim?.child.kill('SIGTERM');
    if (dim) await dim.exited;
    await store?.close();
  });

  it('runs its examples verbatim: a dataset, an event, advice, a migration that completes', async () => {
    const curls = quickstartCurls();
    expect(curls.length).toBeGreaterThanOrEqual(7);
    const dataDir = tempDir('quickstart');
    const shared = path.join(dataDir, 'shared_storage');
    const env: Record<string, string> = {
      DIM_DATA_DIR: dataDir,
      DIM_API_PORT: String(await freePort()),
      DIM_WORKER_PORT: String(await freePort()),
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      DIM_TASK_QUEUE: `quickstart-${path.basename(dataDir)}`,
      DIM_FILE_ROOTS: `${path.join(dataDir, 'storage')},${shared}`,
    };
    if (testDatabaseUrl !== undefined) {
      // A schema of its own, made (and dropped at the end) by the test; dim finds it in the URL.
      const file = path.join(dataDir, 'dim.db');
      store = await openTestStore(file);
      const url = new URL(testDatabaseUrl);
      url.searchParams.set('options', `-c search_path=${testSchemaName(file)}`);
      env.DIM_DATABASE_URL = url.toString();
    }
    dim = await startDim('up', env);

    const api = `http://127.0.0.1:${env.DIM_API_PORT}`;
    const worker = `http://127.0.0.1:${env.DIM_WORKER_PORT}`;
    const script = curls
      .map((c) =>
        c
          .replaceAll('http://127.0.0.1:8080', api)
          .replaceAll('http://127.0.0.1:8090', worker)
          .replaceAll('/shared_storage', shared)
          .replace(/^curl /, 'curl -sS --fail-with-body -w "\\n" '),
      )
      .join('\n');
    writeFileSync(path.join(dataDir, 'quickstart.sh'), `set -euo pipefail\n${script}\n`);
    mkdirSync(shared, { recursive: true });
    const out = execFileSync('bash', [path.join(dataDir, 'quickstart.sh')], {
      encoding: 'utf8',
    });
    const answers = out
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{') || l.startsWith('['))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // POST /datasets, POST /access-events, GET /recommendations, POST /plan-migration, ...
    expect(answers[0]).toMatchObject({ id: 1, name: 'sample' });
    expect(answers[1]).toEqual({ accepted: 1 });
    const plan = answers.find((a) => typeof a.job_id === 'string')!;
    expect(plan).toBeDefined();

    // The migration the Quickstart planned completes, and the dataset points at its copy.
    await waitFor(
      'the Quickstart migration to complete',
      async () => {
        const job = (await (await fetch(`${api}/jobs/${String(plan.job_id)}`)).json()) as {
          status: string;
        };
        if (job.status === 'failed')
          throw new Error(`the migration failed: ${JSON.stringify(job)}`);
        return job.status === 'completed';
      },
      90_000,
      250,
    );
    const ds = (await (await fetch(`${api}/datasets/1`)).json()) as Record<string, unknown>;
    expect(ds).toMatchObject({ path_uri: `file://${shared}/migrated/sample`, version: 2 });
    expect(readFileSync(path.join(shared, 'migrated', 'sample', 'hello.txt'), 'utf8')).toBe(
      'hello\n',
    );
    expect(
      ((await (await fetch(`${api}/datasets/1`)).json()) as { usage: { read_count: number } }).usage
        .read_count,
    ).toBe(1);
  });
});
