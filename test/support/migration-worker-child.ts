import { readFileSync } from 'node:fs';
import { createStorage } from '../../storage';
import { openDatabase } from '../../store/db';
import { LocalLogSink } from '../../events/local-log';
import { createLogger } from '../../runtime/log';
import { startMigrationWorker } from '../../workers/migration-worker';
import type { MoverTuning } from '../../activities/mover-env';

/**
 * A migration worker as a child process, for fault tests that kill it (`kill -9`). Its
 * options come as JSON in DIM_TEST_WORKER; it prints one "ready" line on stdout.
 */
interface ChildOptions {
  address: string;
  taskQueue: string;
  dbFile: string;
  fileRoots: string[];
  bundleFile: string;
  tuning?: MoverTuning;
  /** S3 and GCS endpoints; credentials come from the SDKs' standard chains (AWS_* variables). */
  endpoints?: { s3?: string; gcs?: string };
}

async function main() {
  const o = JSON.parse(process.env.DIM_TEST_WORKER ?? '{}') as ChildOptions;
  const log = createLogger((process.env.DIM_LOG_LEVEL as 'info' | undefined) ?? 'warn', {
    proc: 'test-worker',
  });
  const store = await openDatabase(o.dbFile);
  const storage = createStorage(
    {
      fileRoots: o.fileRoots,
      s3: { endpoint: o.endpoints?.s3, region: 'us-east-1' },
      gcs: { endpoint: o.endpoints?.gcs, projectId: undefined },
    },
    { file: { fsync: o.tuning?.fsync ?? false } },
  );
  const w = await startMigrationWorker({
    address: o.address,
    namespace: 'default',
    taskQueue: o.taskQueue,
    log,
    workflowBundleCode: readFileSync(o.bundleFile, 'utf8'),
    deps: {
      log,
      db: store.db,
      storage,
      events: new LocalLogSink({ sqlite: store.sqlite, topicPrefix: '', bufferMax: 1_000_000 }),
      tuning: o.tuning,
    },
  });
  const stop = () => {
    void w.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid }) + '\n');
  await w.done;
  await store.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`test worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
