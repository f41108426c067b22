import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { sql } from 'kysely';
import { createApp, listen, type ApiServer } from '../api/app';
import type { Config } from '../config';
import { ping } from '../workflows/ping';
import {
  serveWorkerHealth,
  startMigrationWorker,
  type RunningWorker,
} from '../workers/migration-worker';
import { configuredDatabase, openDatabase, type OpenedDb } from '../store/db';
import { startRetention } from '../store/retention';
import { ensureDefaultTiers } from '../store/tiers';
import { defaultTiers } from '../placement';
import { createEvents, type Events } from '../events';
import { startBridge } from '../workers/bridge';
import { checkDatasetLocation, checkLocation } from '../storage/location';
import { createStorage } from '../storage';
import { MigrationService } from '../migrations';
import { SweepService } from '../sweep/service';
import { ensureSweepSchedule } from '../sweep/schedule';
import type { Logger } from './log';
import { createMetricsRegistry } from './metrics';
import { serveBridgeHealth } from '../workers/bridge-metrics';
import { resolveTemporalBinary, startTemporalDevServer, type DevServer } from './temporal-dev';

/**
 * Starts the parts of dim one process runs: `dim up` all of them (with a Temporal dev
 * server unless TEMPORAL_ADDRESS is set), `dim api` and `dim worker` one each. The same
 * code path serves the embedded default and the distributed mode; only the adapters differ.
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

export async function startSystem(config: Config, parts: Parts, log: Logger): Promise<System> {
  const stops: Array<() => Promise<void>> = [];
  const failures: Array<Promise<Error>> = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const s of stops.reverse()) {
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

  try {
    let temporalAddress = config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
    let temporalUiUrl: string | undefined;
    if (parts.devServer && !config.temporal.address) {
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

    // The metadata store and the event sink (Kafka or the local log), shared by API, bridge
    // and worker.
    let shared: { store: OpenedDb; events: Events } | undefined;
    if (parts.api || parts.bridge || parts.worker) {
      const store = await openDatabase(configuredDatabase(config));
      stops.push(() => store.close());
      const events = createEvents(config, store, log);
      stops.push(() => events.close());
      // Old rows of the tables that grow with use go, in every process (README, Retention).
      const retention = startRetention({
        db: store.dialect === 'postgres' ? store.db : store.sqlite,
        retention: config.retention,
        log: log.child({ part: 'retention' }),
      });
      stops.push(() => retention.stop());
      shared = { store, events };
    }

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

    let worker: RunningWorker | undefined;
    let workerUrl: string | undefined;
    if (parts.worker && shared) {
      const storage = createStorage(config.storage);
      stops.push(() => storage.close());
      worker = await startMigrationWorker({
        address: temporalAddress,
        namespace: config.temporal.namespace,
        taskQueue: config.worker.taskQueue,
        deps: {
          log: log.child({ part: 'activity' }),
          db: shared.store.db,
          storage,
          events: shared.events.sink,
          sweep: new SweepService({
            db: shared.store.db,
            events: shared.events.sink,
            log: log.child({ part: 'sweep' }),
            migrations: new MigrationService({ db: shared.store.db, datasetLocation, temporal }),
          }),
          tuning: {
            maxBytesPerSecond: config.worker.maxBytesPerSecond,
            fileHash: config.mover.fileHash,
          },
        },
        log,
        registry,
      });
      const w = worker;
      stops.push(() => w.stop());
      failures.push(
        w.done.then(
          () => new Error('the worker stopped'),
          (err: unknown) => new Error(`the worker failed: ${(err as Error).message}`),
        ),
      );
      const health = await serveWorkerHealth(w, config.api.host, config.worker.port);
      stops.push(() => new Promise<void>((res) => health.close(() => res())));
      workerUrl = `http://${config.api.host}:${config.worker.port}`;
    }

    let api: ApiServer | undefined;
    let bridgeUrl: string | undefined;
    if (parts.api && shared) {
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
          ...(worker
            ? {
                worker: () => {
                  const state = worker.worker.getState();
                  return state === 'RUNNING'
                    ? Promise.resolve()
                    : Promise.reject(new Error(`worker is ${state.toLowerCase()}`));
                },
              }
            : {}),
        },
      });
      api = await listen(app, config.api.host, config.api.port);
      const a = api;
      stops.push(() => a.close());
    }

    if (parts.bridge && shared) {
      const bridge = await startBridge({
        store: shared.store,
        group: config.events.bridgeGroup,
        topicPrefix: config.events.topicPrefix,
        kafka: config.kafka,
        idKey: config.events.idKey,
        onAppend: shared.events.onAppend,
        log,
        registry,
      });
      stops.push(() => bridge.stop());
      if (!parts.api) {
        const health = await serveBridgeHealth(
          bridge,
          registry,
          config.api.host,
          config.bridge.port,
        );
        stops.push(() => new Promise<void>((res) => health.close(() => res())));
        bridgeUrl = `http://${config.api.host}:${config.bridge.port}`;
      }
      failures.push(
        bridge.done.then(
          () => new Error('the bridge stopped'),
          (err: unknown) => new Error(`the bridge failed: ${(err as Error).message}`),
        ),
      );
    }

    if (parts.worker) {
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
    }

    return {
      temporalAddress,
      temporalUiUrl,
      apiUrl: api?.url,
      workerUrl,
      bridgeUrl,
      stop,
      failed: Promise.race(failures.length ? failures : [new Promise<Error>(() => undefined)]),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
