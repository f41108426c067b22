import path from 'node:path';
import { tempDir } from '../test/support/dim-process';
import type { AccessEvent } from '../events/access-event';
import { HOUR_MS, hourOf, usageBuckets, type AccessStore, type Incoming } from './access';
import type { OpenedDb } from './db';
import { openTestStore } from '../test/support/store';
import { insertDataset, usageOf } from './datasets';
import { datasetRow } from '../test/support/rows';

describe('AccessStore (the bridge transaction)', () => {
  let store: OpenedDb;
  let writer: AccessStore;
  let file: string;
  const t0 = hourOf(Date.now()) - 3 * HOUR_MS;
  const ev = (over: Partial<AccessEvent> = {}): AccessEvent => ({
    dataset_id: 1,
    op: 'read',
    size_bytes: 100,
    client_lat_ms: 10,
    ts: t0 + 1000,
    ...over,
  });
  const msg = (offset: number, e: AccessEvent | undefined, extra: Partial<Incoming> = {}) => ({
    offset,
    event: e,
    raw: () => JSON.stringify(e ?? 'garbage'),
    ...extra,
  });

  beforeEach(async () => {
    file = path.join(tempDir('access'), 'dim.db');
    store = await openTestStore(file);
    for (const name of ['a', 'b']) {
      await insertDataset(store.db, datasetRow(name, `file:///shared_storage/${name}`));
    }
    writer = store.backend.accessStore('g', 'access_events', 'kafka');
  });
  afterEach(() => store.close());

  it('adds a batch to totals, hourly buckets and last_access_ts, and stores the offset', async () => {
    const r = await writer.apply(
      0,
      [
        msg(0, ev()),
        msg(1, ev({ op: 'write', size_bytes: 50, client_lat_ms: 30, ts: t0 + HOUR_MS + 5 })),
        msg(2, ev({ dataset_id: 2, ts: t0 + 7 })),
      ],
      3,
    );
    expect(r).toEqual({ applied: 3, skipped: 0, deadLettered: 0 });
    const usage = await usageOf(store.db, [1, 2]);
    expect(usage.get(1)).toEqual({
      read_count: 1,
      write_count: 1,
      bytes_read: 100,
      bytes_written: 50,
      last_access_ts: t0 + HOUR_MS + 5,
      mean_client_lat_ms: 20,
    });
    expect(usage.get(2)).toMatchObject({ read_count: 1, last_access_ts: t0 + 7 });
    const buckets = await usageBuckets(store.db, 1, t0 - HOUR_MS, t0 + 5 * HOUR_MS);
    expect(buckets).toEqual([
      expect.objectContaining({ hour: t0, read_count: 1, write_count: 0, bytes_read: 100 }),
      expect.objectContaining({ hour: t0 + HOUR_MS, write_count: 1, bytes_written: 50 }),
    ]);
    const d = await store.db
      .selectFrom('datasets')
      .select('last_access_ts')
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    expect(d.last_access_ts).toBe(t0 + HOUR_MS + 5);
    expect(await writer.storedOffset(0)).toBe(3);
    expect(await writer.storedOffset(1)).toBeUndefined();
  });

  it('skips a redelivered batch (offsets below the stored one): counted once', async () => {
    const batch = [msg(10, ev()), msg(11, ev())];
    await writer.apply(0, batch, 12);
    expect(await writer.apply(0, batch, 12)).toEqual({ applied: 0, skipped: 2, deadLettered: 0 });
    // A batch that overlaps: only the new part counts.
    expect(await writer.apply(0, [msg(11, ev()), msg(12, ev())], 13)).toEqual({
      applied: 1,
      skipped: 1,
      deadLettered: 0,
    });
    expect((await usageOf(store.db, [1])).get(1)!.read_count).toBe(3);
    // Partitions are independent.
    expect((await writer.apply(1, [msg(0, ev())], 1)).applied).toBe(1);
  });

  it('skips re-sent copies: a dim-id number not above its source watermark', async () => {
    await writer.apply(
      0,
      [msg(0, ev(), { source: 's1', n: 1 }), msg(1, ev(), { source: 's1', n: 2 })],
      2,
    );
    // The relay sends 1..3 again after an ambiguous failure: only 3 is new.
    const r = await writer.apply(
      0,
      [
        msg(2, ev(), { source: 's1', n: 1 }),
        msg(3, ev(), { source: 's1', n: 2 }),
        msg(4, ev(), { source: 's1', n: 3 }),
        msg(5, ev(), { source: 's2', n: 1 }),
        msg(6, ev()), // no header (kcat): always counts
      ],
      7,
    );
    expect(r).toEqual({ applied: 3, skipped: 2, deadLettered: 0 });
    // Watermarks are per partition.
    expect((await writer.apply(1, [msg(0, ev(), { source: 's1', n: 2 })], 1)).applied).toBe(1);
    expect((await usageOf(store.db, [1])).get(1)!.read_count).toBe(6);
  });

  it('sets aside malformed messages and unknown datasets, and goes on', async () => {
    const r = await writer.apply(
      2,
      [
        msg(0, undefined, { error: 'not valid JSON', raw: () => '{nope' }),
        msg(1, ev({ dataset_id: 999 })),
        msg(2, ev()),
      ],
      3,
    );
    expect(r).toEqual({ applied: 1, skipped: 0, deadLettered: 2 });
    const dead = await store.db.selectFrom('dead_letters').selectAll().orderBy('id').execute();
    expect(dead).toEqual([
      expect.objectContaining({
        source: 'kafka',
        partition: 2,
        offset: '0',
        payload: '{nope',
        error: 'not valid JSON',
      }),
      expect.objectContaining({ offset: '1', error: expect.stringMatching(/dataset 999/) }),
    ]);
    expect(await writer.storedOffset(2)).toBe(3);
    // Redelivery does not set them aside twice.
    expect((await writer.apply(2, [msg(0, undefined, { error: 'x' })], 1)).deadLettered).toBe(0);
  });

  it('keeps last_access_ts at the newest event even when older ones arrive later', async () => {
    await writer.apply(0, [msg(0, ev({ ts: t0 + 9000 }))], 1);
    await writer.apply(0, [msg(1, ev({ ts: t0 + 10 }))], 2);
    expect((await usageOf(store.db, [1])).get(1)!.last_access_ts).toBe(t0 + 9000);
  });

  it('two bridges holding one partition at once (a rebalance) apply each batch once', async () => {
    const other = await openTestStore(file); // another process's connection
    try {
      const second = other.backend.accessStore('g', 'access_events', 'kafka');
      const batch = (from: number) =>
        Array.from({ length: 50 }, (_, i) => msg(from + i, ev({ dataset_id: 1 + (i % 2) })));
      // Both get offsets 0..99 of partition 0, in overlapping batches; and partition 1 at once.
      const results = await Promise.all([
        writer.apply(0, batch(0), 50),
        second.apply(0, batch(0), 50),
        writer.apply(0, batch(50), 100),
        second.apply(0, batch(25), 75),
        second.apply(1, batch(0), 50),
        writer.apply(1, batch(0), 50),
      ]);
      expect(results.reduce((n, r) => n + r.applied, 0)).toBe(150);
      const usage = await usageOf(store.db, [1, 2]);
      expect(usage.get(1)!.read_count + usage.get(2)!.read_count).toBe(150);
      expect(await writer.storedOffset(0)).toBe(100);
      expect(await second.storedOffset(1)).toBe(50);
    } finally {
      await other.close();
    }
  });
});
