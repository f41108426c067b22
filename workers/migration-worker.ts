import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Client } from '@temporalio/client';
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
import { liveGauge, serveMetrics, type Registry } from '../runtime/metrics';
import { activityMetricsInterceptor } from './activity-metrics';
import { startReconciler } from './reconciler';

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
  /** The process's metrics registry (runtime/metrics.ts); by default the worker's own. */
  registry?: Registry;
  /**
   * How often the reconciler (reconciler.ts) ends jobs whose run Temporal terminated;
   * 0 turns it off. Default 5 s.
   */
  reconcileMs?: number;
  /** A connection already made (`connectWorker`, as start-up waits for it); closed on stop. */
  connection?: NativeConnection;
}

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped polling and finished its in-flight tasks. */
  done: Promise<void>;
  /** Counters of the mover (bytes copied, job statuses), for /metrics. */
  metrics: MoverMetrics;
  /** Where the worker's metrics are registered (served on its port's /metrics). */
  registry: Registry;
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

/**
 * One attempt at reaching Temporal for a worker: the connection, and the namespace it
 * will poll (a cluster set up by a script may create it after its frontend answers).
 */
export async function connectWorker(
  address: string,
  namespace: string,
  log: Logger,
): Promise<NativeConnection> {
  installRuntimeLogger(log);
  const connection = await NativeConnection.connect({ address });
  try {
    await connection.withDeadline(Date.now() + 5000, () =>
      connection.workflowService.describeNamespace({ namespace }),
    );
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
  return connection;
}

export async function startMigrationWorker(opts: WorkerOptions): Promise<RunningWorker> {
  installRuntimeLogger(opts.log);
  const connection = opts.connection ?? (await NativeConnection.connect({ address: opts.address }));
  const bundle = opts.compileWorkflows
    ? undefined
    : (opts.workflowBundlePath ?? defaultWorkflowBundle());
  // On shutdown (SIGTERM) running copies record their progress in a last heartbeat and
  // end their attempt, so that another worker resumes them at once.
  const shutdown = new AbortController();
  const metrics = opts.deps.metrics ?? new MoverMetrics(opts.registry);
  const registry = metrics.registry;
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
    // Activity outcomes and failure codes, for /metrics (workers/activity-metrics.ts).
    interceptors: { activity: [activityMetricsInterceptor(registry)] },
    // Give running activities time to record their progress on SIGTERM.
    shutdownGraceTime: '10 seconds',
    // Heartbeats (progress, resume points, cancellation) reach the server within a second.
    maxHeartbeatThrottleInterval: '1 second',
  });
  registerWorkerGauges(registry, worker);
  opts.log.info('worker polling', { taskQueue: opts.taskQueue, address: opts.address });
  // Terminated or timed-out runs (Web UI, `temporal workflow terminate`) reach the mirror here.
  const { db, storage, events } = opts.deps;
  const reconcileMs = opts.reconcileMs ?? 5000;
  const reconciler =
    db && storage && events && reconcileMs > 0
      ? startReconciler(
          {
            db,
            storage,
            events,
            client: new Client({ connection, namespace: opts.namespace }),
            namespace: opts.namespace,
            log: opts.log.child({ part: 'reconciler' }),
            metrics,
            tuning: opts.deps.tuning,
          },
          reconcileMs,
        )
      : undefined;
  const done = worker
    .run()
    .finally(() => reconciler?.stop())
    .finally(() => connection.close());
  return {
    worker,
    done,
    metrics,
    registry,
    async stop() {
      shutdown.abort();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/** The Temporal worker's own state, read at each scrape. */
function registerWorkerGauges(registry: Registry, worker: Worker): void {
  const status = () => worker.getStatus();
  liveGauge(registry, {
    name: 'dim_worker_up',
    help: '1 when the worker is polling its task queue.',
    collect() {
      this.set(worker.getState() === 'RUNNING' ? 1 : 0);
    },
  });
  liveGauge(registry, {
    name: 'dim_worker_running_activities',
    help: 'Activities running on this worker now.',
    collect() {
      this.set(status().numInFlightActivities);
    },
  });
  liveGauge(registry, {
    name: 'dim_worker_running_workflow_tasks',
    help: 'Workflow activations in flight on this worker.',
    collect() {
      this.set(status().numInFlightWorkflowActivations);
    },
  });
  liveGauge(registry, {
    name: 'dim_worker_cached_workflows',
    help: "Workflows in the worker's sticky cache.",
    collect() {
      this.set(status().numCachedWorkflows);
    },
  });
}

/** Health (`/health`) and Prometheus metrics (`/metrics`) of a worker, on its own port. */
export function serveWorkerHealth(
  w: RunningWorker,
  host: string,
  port: number,
): Promise<http.Server> {
  const server = http.createServer(workerHealthHandler(w));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** What the worker's port answers: /health, /metrics, /jobs. */
export function workerHealthHandler(w: RunningWorker): http.RequestListener {
  return (req, res) => {
    if (req.url === '/health') {
      const state = w.worker.getState();
      const ok = state === 'RUNNING';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : 'down', worker: state.toLowerCase() }));
    } else if (req.url === '/metrics') {
      serveMetrics(w.registry, req, res);
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
  };
}
