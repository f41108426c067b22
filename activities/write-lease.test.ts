import { once } from 'node:events';
import { openDatabase, type OpenedDb } from '../store/db';
import { holdJobWrites, jobWritesLease, tryHoldJobWrites } from './write-lease';

describe("a job's write lease", () => {
  let store: OpenedDb;
  beforeEach(async () => (store = await openDatabase(':memory:')));
  afterEach(() => store.close());

  it('has one holder at a time; a waiter gets it once the holder releases it', async () => {
    const { db } = store;
    const copy = await holdJobWrites(db, 'j1', 'copy');
    expect(await tryHoldJobWrites(db, 'j1', 'reconciler')).toBeUndefined();
    const other = await tryHoldJobWrites(db, 'j2', 'reconciler'); // another job: its own lease
    expect(other).toBeDefined();
    await other!.release();

    let polls = 0;
    const waiting = holdJobWrites(db, 'j1', 'cleanup', {
      onWait: () => {
        polls++;
        if (polls === 2) void copy.release();
      },
    });
    const cleanup = await waiting;
    expect(polls).toBeGreaterThanOrEqual(2);
    const row = await db
      .selectFrom('leases')
      .select('holder')
      .where('name', '=', jobWritesLease('j1'))
      .executeTakeFirstOrThrow();
    expect(row.holder).toMatch(/^cleanup#/);
    await cleanup.release();
    expect(await db.selectFrom('leases').selectAll().execute()).toEqual([]);
  });

  it('a wait ends when its signal aborts', async () => {
    const { db } = store;
    const copy = await holdJobWrites(db, 'j1', 'copy');
    const stop = new AbortController();
    const waiting = holdJobWrites(db, 'j1', 'cleanup', {
      signal: stop.signal,
      onWait: () => stop.abort(new Error('stopping')),
    });
    await expect(waiting).rejects.toThrow('stopping');
    await copy.release();
  });

  it('a holder whose lease expired and was taken sees `lost` abort at its next renewal', async () => {
    const { db } = store;
    const stale = await holdJobWrites(db, 'j1', 'copy');
    // As if the holder had been paused past the lease's expiry.
    await db.updateTable('leases').set({ expires_at: 0 }).execute();
    const cleanup = await tryHoldJobWrites(db, 'j1', 'cleanup');
    expect(cleanup).toBeDefined();
    await once(stale.lost, 'abort');
    expect(String(stale.lost.reason)).toMatch(/cleanup#/);
    await stale.release(); // releases nothing of the new holder's
    expect(await tryHoldJobWrites(db, 'j1', 'third')).toBeUndefined();
    await cleanup!.release();
  });
});
