import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  promises as fsp,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { MoverTuning } from '../../activities/mover-env';
import { createApp, listen, type ApiServer } from '../../api/app';
import type { ApiKey } from '../../api/auth';
import type { EventSink, Message, PublishOptions, Topic } from '../../events/sink';
import { silentLogger } from '../../runtime/log';
import { resolveTemporalBinary } from '../../runtime/temporal-dev';
import { MigrationService } from '../../migrations';
import { createStorage, type Storage, type StorageOverrides } from '../../storage';
import { SweepService } from '../../sweep/service';
import { checkDatasetLocation, checkLocation } from '../../storage/location';
import type { OpenedDb } from '../../store/db';
import { openTestStore } from './store';
import type { MigrationJob } from '../../store/schema';
import { startMigrationWorker, type RunningWorker } from '../../workers/migration-worker';
import type { TestResponse } from './api';
import { tempDir } from './dim-process';

/**
 * Everything a migration test needs, real and in-process: a SQLite store in a temp dir,
 * file roots, the storage drivers, the local event log, a migration worker on its own
 * task queue of the dev server, and the API on a free port with a Temporal client.
 */

export const TEMPORAL_ADDRESS = process.env.DIM_TEST_TEMPORAL ?? '127.0.0.1:7233';

const quiet = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error: (m: string) => console.error(m),
};

/** The workflow bundle, built once per test file. */
export async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: quiet,
  });
  return code;
}

/** The local event log, plus a hook that runs before each message is kept (fault injection). */
export class HookedSink implements EventSink {
  onPublish?: (topic: Topic, messages: Message[]) => Promise<void> | void;
  constructor(private readonly inner: EventSink) {}
  async publish(topic: Topic, messages: Message[], opts?: PublishOptions): Promise<void> {
    await this.onPublish?.(topic, messages);
    await this.inner.publish(topic, messages, opts);
  }
}

export interface Harness {
  dir: string;
  root: string;
  store: OpenedDb;
  storage: Storage;
  sink: HookedSink;
  worker: RunningWorker | undefined;
  client: Client;
  connection: Connection;
  api: ApiServer;
  taskQueue: string;
  address: string;
  request(
    method: string,
    p: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Reply>;
  close(): Promise<void>;
}

/** An HTTP answer as the in-process API tests see it, without headers. */
export type Reply = Pick<TestResponse, 'status' | 'body'>;

export async function startHarness(opts: {
  name: string;
  taskQueue: string;
  bundle: string;
  tuning?: MoverTuning;
  address?: string;
  /** Run a worker in this process (default); fault tests run theirs as child processes. */
  worker?: boolean;
  /** S3 and GCS endpoints (MinIO, fake-gcs-server); the clouds themselves when unset. */
  endpoints?: { s3?: string; gcs?: string };
  /** Driver options beyond the configuration, e.g. MinIO's credentials. */
  storageOverrides?: StorageOverrides;
  /** API keys (name, role, secret); none: the API is open, every caller an anonymous admin. */
  apiKeys?: ApiKey[];
  /** Give the worker the placement sweep's activity (sweep/service.ts), as `dim up` does. */
  sweep?: boolean;
  /** The worker's reconciler interval (workers/reconciler.ts); its default when unset. */
  reconcileMs?: number;
}): Promise<Harness> {
  const address = opts.address ?? TEMPORAL_ADDRESS;
  const dir = tempDir(opts.name);
  const root = path.join(dir, 'storage');
  mkdirSync(root, { recursive: true });
  const store = await openTestStore(path.join(dir, 'dim.db'));
  const storageConfig = {
    fileRoots: [root],
    s3: { endpoint: opts.endpoints?.s3, region: 'us-east-1' },
    gcs: { endpoint: opts.endpoints?.gcs, projectId: undefined },
  };
  const storage = createStorage(storageConfig, {
    ...opts.storageOverrides,
    file: { fsync: false, ...opts.storageOverrides?.file },
  });
  const sink = new HookedSink(store.backend.localLog({ topicPrefix: '', bufferMax: 1_000_000 }));
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const temporal = {
    client,
    namespace: 'default',
    taskQueue: opts.taskQueue,
    uiUrl: 'http://127.0.0.1:8233',
  };
  const datasetLocation = (uri: string, field: string) =>
    checkDatasetLocation(uri, field, { fileRoots: [root], allowWholeRoot: false });
  const sweep = opts.sweep
    ? new SweepService({
        db: store.db,
        events: sink,
        log: silentLogger,
        migrations: new MigrationService({ db: store.db, datasetLocation, temporal }),
      })
    : undefined;
  const worker =
    opts.worker === false
      ? undefined
      : await startMigrationWorker({
          address,
          namespace: 'default',
          taskQueue: opts.taskQueue,
          log: silentLogger,
          workflowBundleCode: opts.bundle,
          reconcileMs: opts.reconcileMs,
          deps: {
            log: silentLogger,
            db: store.db,
            storage,
            events: sink,
            tuning: { fsync: false, ...opts.tuning },
            sweep,
          },
        });
  const app = createApp({
    log: silentLogger,
    health: {},
    db: store.db,
    apiKeys: opts.apiKeys ?? [],
    checkLocation: (uri, field) => checkLocation(uri, field, storageConfig),
    datasetLocation,
    events: sink,
    temporal,
  });
  const api = await listen(app, '127.0.0.1', 0);
  return {
    dir,
    root,
    store,
    storage,
    sink,
    worker,
    client,
    connection,
    api,
    taskQueue: opts.taskQueue,
    address,
    async request(method, p, body, headers = {}) {
      const res = await fetch(api.url + p, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
    },
    async close() {
      await api.close();
      await worker?.stop();
      await connection.close();
      await storage.close();
      await store.close();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

export const fileUri = (p: string) => pathToFileURL(p).href;

/** Writes files (relative path → content) under `dir`. */
export function writeTree(dir: string, files: Record<string, string | Buffer>): void {
  mkdirSync(dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(dir, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

/** relative path → sha256 of every regular file under `dir` (or of `dir` itself when it is a file). */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  let st;
  try {
    st = statSync(dir);
  } catch {
    return out;
  }
  if (st.isFile()) return { '': sha(dir) };
  const walk = (d: string, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), rel);
      else if (e.isFile()) out[rel] = sha(path.join(d, e.name));
    }
  };
  walk(dir, '');
  return out;
}

/** Every entry (files, directories, temporary files) under `dir`, for "nothing left" checks. */
export function listAll(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true }).map(String).sort();
  } catch {
    return [];
  }
}

export async function createDataset(
  h: Harness,
  name: string,
  uri: string,
  sizeBytes = 0,
): Promise<number> {
  const r = await h.request('POST', '/datasets', { name, path_uri: uri, size_bytes: sizeBytes });
  if (r.status !== 201) throw new Error(`POST /datasets: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body as { id: number }).id;
}

export async function jobRow(h: Harness, jobId: string): Promise<MigrationJob> {
  return h.store.db
    .selectFrom('migration_jobs')
    .selectAll()
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
}

/** Polls the job row until `pred` holds. */
export async function waitForJob(
  h: Harness,
  jobId: string,
  pred: (j: MigrationJob) => boolean,
  timeoutMs = 60_000,
  what = 'the expected state',
): Promise<MigrationJob> {
  const deadline = Date.now() + timeoutMs;
  let last: MigrationJob | undefined;
  while (Date.now() < deadline) {
    last = await jobRow(h, jobId);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `job ${jobId} did not reach ${what} in ${timeoutMs} ms; last: ${JSON.stringify(last)}`,
  );
}

export const waitForStatus = (h: Harness, jobId: string, status: string, timeoutMs?: number) =>
  waitForJob(h, jobId, (j) => j.status === status, timeoutMs, `status ${status}`);

/**
 * Saves a workflow's history for the replay test (workflows/migration-replay.test.ts) when
 * DIM_SAVE_HISTORIES is set, as `temporal workflow show -o json` writes it.
 */
export async function maybeSaveHistory(
  h: Harness,
  workflowId: string,
  name: string,
): Promise<void> {
  if (!process.env.DIM_SAVE_HISTORIES) return;
  const bin = await resolveTemporalBinary({
    configured: undefined,
    toolsDir: path.join(homedir(), '.cache', 'dim'),
    pathEnv: process.env.PATH,
  });
  const json = execFileSync(
    bin,
    ['workflow', 'show', '-w', workflowId, '--address', h.address, '-o', 'json'],
    {
      maxBuffer: 64 << 20,
    },
  );
  const dir = path.resolve(__dirname, '..', 'fixtures', 'histories');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), json);
}
