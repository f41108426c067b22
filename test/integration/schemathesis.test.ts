import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, repoRoot, startDim, tempDir, type DimProcess } from '../support/dim-process';

/**
 * Fuzzes the API from its own OpenAPI document with schemathesis (pinned in
 * dev/requirements-fuzz.txt, installed by `dev/tools path schemathesis`), against `dim up` as
 * a user starts it: the embedded default, its own Temporal dev server, data dir and ports.
 * Every operation, every phase (examples, coverage, fuzzing, and stateful runs along the
 * document's links, fed by a few seeded datasets, a policy and a job), and the checks below;
 * any finding fails the test and shows schemathesis's report. The run is written to
 * var/schemathesis/ (output.txt, junit.xml).
 *
 * Reproduce a run with its seed: DIM_FUZZ_SEED=<seed>; budget: DIM_FUZZ_SECONDS (default 90).
 */
const SEED = Number(process.env.DIM_FUZZ_SEED ?? 20261201);
const BUDGET_S = Number(process.env.DIM_FUZZ_SECONDS ?? 90);
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
  'unsupported_method',
  'allow_header_conformance',
];
const reportDir = path.join(repoRoot, 'var', 'schemathesis');

jest.setTimeout((BUDGET_S + 120) * 1000);

let schemathesis: string;
beforeAll(() => {
  // Installed once into the tools dir (a virtual environment; the first time takes ~30 s).
  schemathesis = execFileSync(path.join(repoRoot, 'dev', 'tools'), ['path', 'schemathesis'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  }).trim();
}, 600_000);

async function call(api: string, method: string, p: string, body?: unknown) {
  const res = await fetch(api + p, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300)
    throw new Error(`seeding: ${method} ${p} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** A few things for the stateful phase's links to work on: datasets with files, a policy, a job. */
async function seed(api: string, storage: string) {
  const dir = (name: string, files: Record<string, string>) => {
    const d = path.join(storage, 'seed', name);
    mkdirSync(d, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(path.join(d, f), text);
    return pathToFileURL(d).href;
  };
  const alpha = await call(api, 'POST', '/datasets', {
    name: 'alpha',
    path_uri: dir('alpha', { 'a.txt': 'alpha\n', 'b.txt': 'b'.repeat(4096) }),
    size_bytes: 4102,
    object_count: 2,
  });
  await call(api, 'POST', '/policies', { name: 'careful', require_approval: true });
  const beta = await call(api, 'POST', '/datasets', {
    name: 'beta',
    path_uri: dir('beta', { 'c.bin': 'c'.repeat(10_000) }),
    size_bytes: 10_000,
    object_count: 1,
    policy: 'careful',
  });
  await call(api, 'POST', '/access-events', [
    { dataset_id: alpha.id, op: 'read', size_bytes: 4096, client_lat_ms: 12.3 },
    { dataset_id: beta.id, op: 'write', size_bytes: 10_000, client_lat_ms: 3 },
  ]);
  await call(api, 'GET', '/recommendations');
  // Waits for approval (its policy says so): approve, cancel and GET /jobs/{id} have a job.
  await call(api, 'POST', '/plan-migration', {
    dataset_id: beta.id,
    target_location: pathToFileURL(path.join(storage, 'moved', 'beta')).href,
  });
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: reportDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

describe('schemathesis against dim up', () => {
  let dim: DimProcess | undefined;
  afterAll(async () => {
    if (!dim) return;
    dim.child.kill('SIGTERM');
    await dim.exited;
  });

  it('finds nothing: no 5xx, no undocumented status, content type or schema, 405 for other methods', async () => {
    const dataDir = tempDir('fuzz');
    const storage = path.join(dataDir, 'storage');
    dim = await startDim('up', {
      DIM_DATA_DIR: dataDir,
      // Only the temp dir: whatever the fuzzer registers and migrates stays in it.
      DIM_FILE_ROOTS: storage,
      DIM_API_PORT: String(await freePort()),
      DIM_WORKER_PORT: String(await freePort()),
      DIM_TEMPORAL_PORT: String(await freePort()),
      DIM_TEMPORAL_UI_PORT: String(await freePort()),
    });
    const api = dim.ready.api!;
    await seed(api, storage);
    const doc = (await call(api, 'GET', '/openapi.json')) as { paths: Record<string, object> };
    const operations = Object.values(doc.paths).reduce((n, p) => n + Object.keys(p).length, 0);

    rmSync(reportDir, { recursive: true, force: true });
    mkdirSync(reportDir, { recursive: true });
    process.stdout.write(
      `schemathesis: seed ${SEED}, ${BUDGET_S} s (DIM_FUZZ_SEED=${SEED} runs the same cases again)\n`,
    );
    const { code, output } = await run(schemathesis, [
      'run',
      `${api}/openapi.json`,
      '--phases=examples,coverage,fuzzing,stateful',
      `--checks=${CHECKS.join(',')}`,
      `--seed=${SEED}`,
      `--max-time=${BUDGET_S}`,
      '--workers=1',
      '--request-timeout=15',
      // Same seed, same cases: no example database carried over from earlier runs.
      '--generation-database=none',
      '--no-color',
      '--report=junit',
      `--report-junit-path=${path.join(reportDir, 'junit.xml')}`,
    ]);
    writeFileSync(path.join(reportDir, 'output.txt'), output);
    const cases = /(\d+) generated/.exec(output)?.[1];
    process.stdout.write(`schemathesis: ${cases ?? '?'} cases, exit ${code}\n`);

    if (code !== 0) {
      // From the first finding to the summary: what failed and the curl that reproduces it.
      const start = output.search(/^_{3,}.*_{3,}$/m);
      throw new Error(
        `schemathesis found problems (seed ${SEED}; full output: var/schemathesis/output.txt):\n\n${start >= 0 ? output.slice(start) : output}`,
      );
    }
    // It really ran: every operation of the document, and the stateful phase along links.
    expect(output).toMatch(new RegExp(`Tested: +${operations}\\b`));
    expect(Number(cases)).toBeGreaterThan(0);
    expect(Number(/API Links: +(\d+) covered/.exec(output)?.[1])).toBeGreaterThan(0);
    // dim is still up after it all.
    expect((await fetch(`${api}/health`)).status).toBe(200);
  });
});
