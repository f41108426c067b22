import path from 'node:path';
import { createApp, listen, type ApiServer } from '../../api/app';
import { KafkaEventSink } from '../../events/kafka';
import { eventIdKeyOf } from '../../events/message-id';
import type { EventSink } from '../../events/sink';
import { silentLogger } from '../../runtime/log';
import { lexicalLocationKey } from '../../storage/location-key';
import { openDatabase, type OpenedDb } from '../../store/db';
import { startBridge, type RunningBridge } from '../../workers/bridge';
import { tempDir } from './dim-process';
import { BROKERS, createDatasets } from './telemetry';

/**
 * The telemetry path in-process: a temporary database with datasets, the API on a free
 * port with a Kafka (or local log) sink, and optionally the bridge.
 */
export interface Stack {
  dataDir: string;
  store: OpenedDb;
  ids: number[];
  sink: EventSink;
  kafkaSink: KafkaEventSink | undefined;
  url: string;
  bridge: RunningBridge | undefined;
  startBridge(): Promise<RunningBridge>;
  close(): Promise<void>;
}

export async function startStack(opts: {
  prefix: string;
  kafka: boolean;
  datasets?: number;
  bridge?: boolean;
  bufferMax?: number;
}): Promise<Stack> {
  const dataDir = tempDir('telemetry');
  const store = await openDatabase(path.join(dataDir, 'dim.db'));
  const ids = await createDatasets(store, opts.datasets ?? 20);
  const kafkaSink = opts.kafka
    ? await KafkaEventSink.open({
        brokers: BROKERS,
        clientId: 'dim-test',
        topicPrefix: opts.prefix,
        bufferMax: opts.bufferMax ?? 1_000_000,
        outbox: store.backend.outbox,
        idKey: await eventIdKeyOf(undefined, store.db),
        log: silentLogger,
        sendTimeoutMs: 3000,
        relayIntervalMs: 500,
      })
    : undefined;
  const localSink = opts.kafka
    ? undefined
    : store.backend.localLog({
        topicPrefix: opts.prefix,
        bufferMax: opts.bufferMax ?? 1_000_000,
      });
  const sink: EventSink = kafkaSink ?? localSink!;
  const app = createApp({
    log: silentLogger,
    health: {},
    db: store.db,
    apiKeys: [],
    checkLocation: (uri) => Promise.resolve(uri),
    datasetLocation: (uri) => Promise.resolve({ uri, key: lexicalLocationKey(uri) }),
    events: sink,
  });
  const server: ApiServer = await listen(app, '127.0.0.1', 0);
  const stack: Stack = {
    dataDir,
    store,
    ids,
    sink,
    kafkaSink,
    url: server.url,
    bridge: undefined,
    async startBridge() {
      stack.bridge = await startBridge({
        store,
        group: `${opts.prefix}bridge`,
        topicPrefix: opts.prefix,
        log: silentLogger,
        kafka: opts.kafka ? { brokers: BROKERS, clientId: 'dim-test-bridge' } : undefined,
        onAppend: localSink ? (l) => localSink.onAppend(l) : undefined,
      });
      return stack.bridge;
    },
    async close() {
      await stack.bridge?.stop();
      await server.close();
      await kafkaSink?.close();
      await localSink?.close();
      await store.close();
    },
  };
  if (opts.bridge) await stack.startBridge();
  return stack;
}
