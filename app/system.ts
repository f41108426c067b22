import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { sql } from 'kysely';
import { createApp, listen, type ApiServer } from '../api/app';
import type { Config } from '../config';
import { ping } from '../workflows/ping';
import {
  connectWorker,
  startMigrationWorker,
  workerHealthHandler,
  type RunningWorker,
} from '../workers/migration-worker';
import { configuredDatabase, openDatabase, type OpenedDb } from '../store/db';
import { startRetention } from '../store/retention';
import { ensureDefaultTiers } from '../store/tiers';
import { defaultTiers } from '../placement';
import { createEvents, type Events } from './events';
import { startBridge } from '../workers/bridge';
import { checkDatasetLocation, checkLocation } from '../storage/location';
import { createStorage } from '../storage';
import { MigrationService } from '../migrations';
import { SweepService } from '../sweep/service';
import { ensureSweepSchedule } from '../sweep/schedule';
import type { Logger } from '../runtime/log';
import { createMetricsRegistry } from '../runtime/metrics';
import { bridgeHealthHandler } from '../workers/bridge-metrics';
import { checkKafka, createKafka } from '../events/kafka-client';
import { holdPort, Startup, StartupAborted, type HeldPort } from '../runtime/startup';
import {
  resolveTemporalBinary,
  startTemporalDevServer,
  type DevServer,
} from '../runtime/temporal-dev';

/** A database URL fit for logs and /health: its password replaced. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured DIM_DATABASE_URL';
  }
}

/**
 * Starts the parts of dim one process runs: `dim up` all of them (with a Temporal dev
 * server unless TEMPORAL_ADDRESS is set), `dim api` and `dim worker` one each. The same
 * code path serves the embedded default and the distributed mode; only the adapters differ.
 *
 * Start-up waits (runtime/startup.ts): each part's port answers /health from the first
 * moment, 503 `{"status":"starting","waiting_for":[...]}` while the process retries its
 * connections (the worker to Temporal, the bridge to Kafka, the API to Temporal when no
 * worker is in the process, every part to a database server), and each part's own health
 * once all are started. What this process started itself (the dev server, a SQLite file) is
 * not waited for: it answers at once or start-up fails at once.
 */
export interface Parts {
  devServer: boolean;
  api: boolean;
  worker: boolean;
  /** The Kafka bridge: access events (Kafka or the local log) → usage aggregates. */
  bridge: boolean;
}

export interface System {
  temporalAddress: string;
  temporalUiUrl: string | undefined;
  apiUrl: string | undefined;
  workerUrl: string | undefined;
  /** `dim bridge` alone: its /health and /metrics (with the API, its /metrics has them). */
  bridgeUrl: string | undefined;
  /** Stops every part, in reverse order of start. Safe to call more than once. */
  stop(): Promise<void>;
  /** Resolves when a part stopped on its own (the dev server died, the worker failed). */
  failed: Promise<Error>;
}

export async function startSystem(
  config: Config,
  parts: Parts,
  log: Logger,
  /** Aborted by SIGTERM/SIGINT: a start-up still waiting rejects with StartupAborted. */
  signal?: AbortSignal,
): Promise<System> {
  const stops: Array<() => Promise<void>> = [];
  const ports: HeldPort[] = [];
  const failures: Array<Promise<Error>> = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // The ports first (no new requests), then the parts in reverse order of start.
      for (const s of [...ports.map((p) => () => p.close()), ...stops.reverse()]) {
        try {
          await s();
        } catch (err) {
          log.warn('error while stopping', { err: (err as Error).message });
        }
      }
    })());

  // One metrics registry for the process: every part registers in it, and each of its
  // ports (the API's /metrics, the worker's, the bridge's) serves all of it.
  const registry = createMetricsRegistry();
  // Aborted by the caller's signal, or when one part failed to start (the others stop waiting).
  const aborter = new AbortController();
  const abort = () => aborter.abort();
  if (signal?.aborted) abort();
  signal?.addEventListener('abort', abort, { once: true });
  const startup = new Startup({ log, timeoutMs: config.startup.timeoutMs, signal: aborter.signal });
  const hold = async (port: number, variable: string) => {
    const held = await holdPort(config.api.host, port, variable, startup);
    ports.push(held);
    return held;
  };

  try {
    // The parts' ports first, so that /health says what the process waits for.
    const apiPort = parts.api ? await hold(config.api.port, 'DIM_API_PORT') : undefined;
    const workerPort = parts.worker ? await hold(config.worker.port, 'DIM_WORKER_PORT') : undefined;
    const bridgePort =
      parts.bridge && !parts.api ? await hold(config.bridge.port, 'DIM_BRIDGE_PORT') : undefined;

    let temporalAddress = config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
    let temporalUiUrl: string | undefined;
    // `dim up` on the embedded default starts Temporal itself: nothing else will bring it up,
    // so it is not waited for (start-up fails at once, as the dev server's own check says why).
    const ownTemporal = parts.devServer && !config.temporal.address;
    if (ownTemporal) {
      const ds = config.temporal.devServer;
      const bin = await resolveTemporalBinary({
        configured: ds.bin,
        toolsDir: config.toolsDir,
        pathEnv: ds.searchPath,
      });
      const dev: DevServer = await startTemporalDevServer({
        bin,
        port: ds.port,
        uiPort: ds.uiPort,
        dbFile: ds.dbFile,
        namespace: config.temporal.namespace,
        logFile: path.join(config.dataDir, 'logs', 'temporal.log'),
        log,
      });
      stops.push(() => dev.process.stop());
      failures.push(
        dev.process.exited.then((code) => new Error(`the Temporal dev server exited (${code})`)),
      );
      temporalAddress = dev.address;
      temporalUiUrl = dev.uiUrl;
    }
    startup.check();

    // The metadata store and the event sink (Kafka or the local log), shared by API, bridge
    // and worker.
    let shared: { store: OpenedDb; events: Events } | undefined;
    if (parts.api || parts.bridge || parts.worker) {
      const target = configuredDatabase(config);
      const pg = typeof target !== 'string';
      const store = await startup.waitFor({
        name: 'database',
        address: pg ? redactUrl(target.url) : target,
        connect: () => openDatabase(target),
        hint: pg
          ? 'start PostgreSQL there or point DIM_DATABASE_URL at it'
          : `check that ${path.dirname(config.dbFile)} is writable (DIM_DATA_DIR)`,
        // A SQLite file that does not open now will not open later; a database server is
        // waited for like Temporal and Kafka.
        retry: pg,
      });
      stops.push(() => store.close());
      const events = await createEvents(config, store, log);
      stops.push(() => events.close());
      // Old rows of the tables that grow with use go, in every process (README, Retention).
      const retention = startRetention({
        db: store.backend.pruneTarget,
        retention: config.retention,
        log: log.child({ part: 'retention' }),
      });
      stops.push(() => retention.stop());
      shared = { store, events };
    }
    startup.check();

    if ((parts.api || parts.worker) && !config.storage.buckets) {
      log.warn(
        'no bucket allowlist configured (DIM_BUCKETS): s3:// and gs:// locations may name any bucket the credentials reach',
      );
    }

    const connection = Connection.lazy({ address: temporalAddress });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const temporal = {
      client,
      namespace: config.temporal.namespace,
      taskQueue: config.worker.taskQueue,
      uiUrl: temporalUiUrl ?? config.temporal.uiUrl,
    };
    const datasetLocation = (uri: string, field: string) =>
      checkDatasetLocation(uri, field, {
        fileRoots: config.storage.fileRoots,
        buckets: config.storage.buckets,
        allowWholeRoot: config.datasets.allowWholeRoot,
      });
    const temporalHint = `start Temporal at ${temporalAddress} or point TEMPORAL_ADDRESS at it (namespace ${config.temporal.namespace} must exist)`;

    let worker: RunningWorker | undefined;
    let api: ApiServer | undefined;
    if (parts.api && shared && apiPort) {
      const { store, events } = shared;
      if (config.api.keys.length === 0) {
        log.warn(
          'no API keys configured (DIM_API_KEYS): the API is open to anyone who can reach it',
        );
      }
      // The embedded mode's tiers (three file:// directories under the data dir), the first time.
      if (await ensureDefaultTiers(store.db, defaultTiers(config.dataDir)))
        log.info('seeded the default tier table', { under: path.join(config.dataDir, 'storage') });
      const app = createApp({
        log,
        db: store.db,
        apiKeys: config.api.keys,
        apiHost: config.api.host,
        checkLocation: (uri, field) => checkLocation(uri, field, config.storage),
        datasetLocation,
        events: events.sink,
        temporal,
        metrics: registry,
        eventBuffer: events.buffer,
        health: {
          events: () => events.health(),
          database: async () => {
            await sql`select 1`.execute(store.db);
          },
          temporal: async () => {
            await connection.withDeadline(Date.now() + 1500, () =>
              connection.healthService.check({}),
            );
          },
          ...(parts.worker
            ? {
                worker: () => {
                  const state = worker?.worker.getState() ?? 'STARTING';
                  return state === 'RUNNING'
                    ? Promise.resolve()
                    : Promise.reject(new Error(`worker is ${state.toLowerCase()}`));
                },
              }
            : {}),
        },
      });
      // The routes answer from now on (events are accepted while Temporal is awaited);
      // /health says "starting" until every part is started.
      api = await listen(app, config.api.host, config.api.port, apiPort);
    }

    // The parts that wait, side by side: one waiting does not hold another back.
    const starting: Array<Promise<void>> = [];
    const part = (p: Promise<void>) =>
      starting.push(
        p.catch((err: unknown) => {
          abort(); // the others stop waiting
          throw err;
        }),
      );

    if (parts.worker && shared && workerPort) {
      const { store, events } = shared;
      part(
        (async () => {
          const storage = createStorage(config.storage);
          stops.push(() => storage.close());
          const native = await startup.waitFor({
            name: 'temporal',
            address: temporalAddress,
            connect: () => connectWorker(temporalAddress, config.temporal.namespace, log),
            hint: temporalHint,
            retry: !ownTemporal,
          });
          if (aborter.signal.aborted) {
            await native.close();
            startup.check();
          }
          const w = await startMigrationWorker({
            address: temporalAddress,
            namespace: config.temporal.namespace,
            taskQueue: config.worker.taskQueue,
            connection: native,
            deps: {
              log: log.child({ part: 'activity' }),
              db: store.db,
              storage,
              events: events.sink,
              sweep: new SweepService({
                db: store.db,
                events: events.sink,
                log: log.child({ part: 'sweep' }),
                migrations: new MigrationService({ db: store.db, datasetLocation, temporal }),
              }),
              tuning: {
                maxBytesPerSecond: config.worker.maxBytesPerSecond,
                fileHash: config.mover.fileHash,
              },
            },
            log,
            registry,
          });
          worker = w;
          stops.push(() => w.stop());
          failures.push(
            w.done.then(
              () => new Error('the worker stopped'),
              (err: unknown) => new Error(`the worker failed: ${(err as Error).message}`),
            ),
          );
          workerPort.serve(workerHealthHandler(w));
          startup.check();

          // Prove the round trip: a workflow through Temporal to this worker and back.
          const started = Date.now();
          const answer = await client.workflow.execute(ping, {
            taskQueue: config.worker.taskQueue,
            workflowId: `dim-ping-${process.pid}-${started}`,
            args: ['hello'],
            workflowExecutionTimeout: '30 seconds',
          });
          log.info('temporal round trip', { answer, ms: Date.now() - started });
          // The placement sweep runs on this task queue; one schedule per deployment.
          try {
            await ensureSweepSchedule(client, {
              scheduleId: config.sweep.scheduleId,
              taskQueue: config.worker.taskQueue,
              intervalMs: config.sweep.intervalMs,
              log,
            });
          } catch (err) {
            log.warn('could not register the placement sweep schedule', {
              err: (err as Error).message,
            });
          }
        })(),
      );
    } else if (api) {
      // An API alone: its routes already answer; it is started once Temporal answers.
      part(
        startup
          .waitFor({
            name: 'temporal',
            address: temporalAddress,
            connect: () =>
              connection.withDeadline(Date.now() + 5000, () => connection.healthService.check({})),
            hint: temporalHint,
            retry: !ownTemporal,
          })
          .then(() => undefined),
      );
    }

    let bridgeUrl: string | undefined;
    if (parts.bridge && shared) {
      const { store, events } = shared;
      part(
        (async () => {
          if (config.kafka) {
            const kafka = createKafka({ ...config.kafka, log });
            await startup.waitFor({
              name: 'kafka',
              address: config.kafka.brokers.join(','),
              connect: () => checkKafka(kafka),
              hint: 'start Kafka there or point KAFKA_BROKERS at it',
            });
          }
          const bridge = await startBridge({
            store,
            group: config.events.bridgeGroup,
            topicPrefix: config.events.topicPrefix,
            kafka: config.kafka,
            idKey: config.events.idKey,
            onAppend: events.onAppend,
            log,
            registry,
          });
          stops.push(() => bridge.stop());
          if (bridgePort) {
            bridgePort.serve(bridgeHealthHandler(bridge, registry));
            bridgeUrl = bridgePort.url;
          }
          failures.push(
            bridge.done.then(
              () => new Error('the bridge stopped'),
              (err: unknown) => new Error(`the bridge failed: ${(err as Error).message}`),
            ),
          );
        })(),
      );
    }

    // Every part started, or the first failure (after the others stopped waiting).
    const settled = await Promise.allSettled(starting);
    const failed = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      const reasons = failed.map((r) => r.reason as Error);
      throw reasons.find((e) => !(e instanceof StartupAborted)) ?? reasons[0]!;
    }
    startup.check();
    startup.finish();

    return {
      temporalAddress,
      temporalUiUrl,
      apiUrl: api?.url,
      workerUrl: workerPort?.url,
      bridgeUrl,
      stop,
      failed: Promise.race(failures.length ? failures : [new Promise<Error>(() => undefined)]),
    };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}
