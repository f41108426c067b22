import path from 'node:path';
import { silentLogger } from '../runtime/log';
import { insertDataset, usageOf } from '../store/datasets';
import type { OpenedDb } from '../store/db';
import { tempDir } from '../test/support/dim-process';
import { datasetRow } from '../test/support/rows';
import { openTestStore } from '../test/support/store';
import { waitFor } from '../test/support/telemetry';
import { startBridge, type RunningBridge } from '../workers/bridge';

/**
 * The durable local log on the project's backend, written by two processes at once (two
 * stores on one database) while a bridge in a third reads it: every event counts once. On
 * PostgreSQL this leans on appends committing in `seq` order (events/local-log-pg.ts): a
 * bridge that read past a row not yet committed would skip it for good.
 */
jest.setTimeout(60_000);

describe('local log', () => {
  const stores: OpenedDb[] = [];
  let bridge: RunningBridge | undefined;
  afterEach(async () => {
    await bridge?.stop();
    for (const s of stores.splice(0)) await s.close();
  });

  it('counts every event appended concurrently by two writers exactly once', async () => {
    const file = path.join(tempDir('local-log'), 'dim.db');
    for (let i = 0; i < 3; i++) stores.push(await openTestStore(file));
    const [a, b, reader] = stores as [OpenedDb, OpenedDb, OpenedDb];
    const ds = await insertDataset(a.db, datasetRow('ds', 'file:///shared_storage/ds'));
    bridge = await startBridge({
      store: reader,
      group: 'dim-bridge',
      topicPrefix: '',
      log: silentLogger,
      pollMs: 5,
      batchSize: 37,
    });
    const sinks = [a, b].map((s) => s.backend.localLog({ topicPrefix: '', bufferMax: 1_000_000 }));
    const event = {
      dataset_id: ds.id,
      op: 'read',
      size_bytes: 1,
      client_lat_ms: 1,
      ts: Date.now(),
    };
    const BATCHES = 40;
    const PER = 25;
    await Promise.all(
      sinks.flatMap((sink) =>
        Array.from({ length: BATCHES }, () =>
          sink.publish(
            'access_events',
            Array.from({ length: PER }, () => ({ key: String(ds.id), value: event })),
          ),
        ),
      ),
    );
    const total = 2 * BATCHES * PER;
    await waitFor(
      'the bridge to count every event',
      async () => ((await usageOf(reader.db, [ds.id])).get(ds.id)?.read_count ?? 0) >= total,
      50_000,
      20,
    );
    // Nothing more arrives later: still exactly the number sent.
    await new Promise((r) => setTimeout(r, 200));
    expect((await usageOf(reader.db, [ds.id])).get(ds.id)?.read_count).toBe(total);
    expect(bridge.stats()).toMatchObject({ applied: total, skipped: 0, deadLettered: 0 });
    for (const sink of sinks) await sink.close();
  });
});
