import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type LogEntry,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { MoverMetrics } from '../activities/metrics';
import type { Logger } from '../runtime/log';

/**
 * The migration worker: polls task queue `dim-migrations` for the workflows in
 * `workflows/` and the activities in `activities/`. It serves its own health and metrics.
 */
export interface WorkerOptions {
  address: string;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  log: Logger;
  /** Pre-built workflow bundle; by default dist/workflow-bundle.js when it exists. */
  workflowBundlePath?: string;
  /** Bundle `workflows/` from source at start-up instead (tests, development). */
  compileWorkflows?: boolean;
  /** An already built bundle's code (tests bundle once per file). */
  workflowBundleCode?: string;
}

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped polling and finished its in-flight tasks. */
  done: Promise<void>;
  /** Counters of the mover (bytes copied, job statuses), for /metrics. */
  metrics: MoverMetrics;
  stop(): Promise<void>;
}

/** `dist/workflow-bundle.js` when `npm run build` made one, else undefined. */
export function defaultWorkflowBundle(): string | undefined {
  const candidates = [
    path.resolve(__dirname, '..', 'workflow-bundle.js'), // dist/workers → dist
    path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js'), // workers → dist
  ];
  return candidates.find((f) => existsSync(f));
}

let runtimeInstalled = false;

/**
 * Routes the Temporal SDK's own logs (worker state, core) into our structured logger, at
 * warn and above. The SDK allows this once per process, before the first worker.
 */
function installRuntimeLogger(log: Logger) {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const sdk = log.child({ part: 'temporal-sdk' });
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry: LogEntry) => {
        const fields = { ...(entry.meta ?? {}) };
        if (entry.level === 'ERROR') sdk.error(entry.message, fields);
        else sdk.warn(entry.message, fields);
      }),
    });
  } catch {
    // Already installed by someone else in this process (tests): keep theirs.
  }
}

export async function startMigrationWorker(opts: WorkerOptions): Promise<RunningWorker> {
  installRuntimeLogger(opts.log);
  const connection = await NativeConnection.connect({ address: opts.address });
  const bundle = opts.compileWorkflows
    ? undefined
    : (opts.workflowBundlePath ?? defaultWorkflowBundle());
  // On shutdown (SIGTERM) running copies record their progress in a last heartbeat and
  // end their attempt, so that another worker resumes them at once.
  const shutdown = new AbortController();
  const metrics = opts.deps.metrics ?? new MoverMetrics();
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundleCode
      ? { workflowBundle: { code: opts.workflowBundleCode } }
      : bundle
        ? { workflowBundle: { codePath: bundle } }
        : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities({
      ...opts.deps,
      metrics,
      shutdown: opts.deps.shutdown ?? shutdown.signal,
    }),
    // Give running activities time to record their progress on SIGTERM.
    shutdownGraceTime: '10 seconds',
    // Heartbeats (progress, resume points, cancellation) reach the server within a second.
    maxHeartbeatThrottleInterval: '1 second',
  });
  opts.log.info('worker polling', { taskQueue: opts.taskQueue, address: opts.address });
  const done = worker.run().finally(() => connection.close());
  return {
    worker,
    done,
    metrics,
    async stop() {
      shutdown.abort();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/** Health (`/health`) and Prometheus metrics (`/metrics`) of a worker, on its own port. */
export function serveWorkerHealth(
  w: RunningWorker,
  host: string,
  port: number,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const state = w.worker.getState();
    if (req.url === '/health') {
      const ok = state === 'RUNNING';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : 'down', worker: state.toLowerCase() }));
    } else if (req.url === '/metrics') {
      const s = w.worker.getStatus();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(
        [
          '# HELP dim_worker_up 1 when the worker is polling.',
          '# TYPE dim_worker_up gauge',
          `dim_worker_up ${state === 'RUNNING' ? 1 : 0}`,
          '# HELP dim_worker_running_activities Activities running now.',
          '# TYPE dim_worker_running_activities gauge',
          `dim_worker_running_activities ${s.numInFlightActivities}`,
          '# HELP dim_worker_running_workflow_tasks Workflow activations in flight.',
          '# TYPE dim_worker_running_workflow_tasks gauge',
          `dim_worker_running_workflow_tasks ${s.numInFlightWorkflowActivations}`,
          '# HELP dim_worker_cached_workflows Workflows in the sticky cache.',
          '# TYPE dim_worker_cached_workflows gauge',
          `dim_worker_cached_workflows ${s.numCachedWorkflows}`,
          ...w.metrics.lines(),
          '',
        ].join('\n'),
      );
    } else if (req.url === '/jobs') {
      // The copies and verifies running on this worker now; the API's GET /jobs has them all.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [...w.metrics.active.values()] }));
    } else {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({
          type: 'about:blank',
          title: 'Not Found',
          status: 404,
          detail: 'the worker serves /health, /metrics and /jobs; the API serves the rest',
        }),
      );
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
