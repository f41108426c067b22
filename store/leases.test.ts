import path from 'node:path';
import type { OpenedDb } from './db';
import { tempDir } from '../test/support/dim-process';
import { openTestStore } from '../test/support/store';
import { acquireLease, releaseLease } from './leases';

describe('leases', () => {
  let store: OpenedDb;
  beforeEach(async () => (store = await openTestStore(':memory:')));
  afterEach(() => store.close());

  it('has one holder until it is released or expires', async () => {
    const { db } = store;
    expect(await acquireLease(db, 'sweep', 'a', 1000, 0)).toBeUndefined();
    expect(await acquireLease(db, 'sweep', 'b', 1000, 500)).toMatchObject({
      holder: 'a',
      expires_at: 1000,
    });
    // The holder may renew it.
    expect(await acquireLease(db, 'sweep', 'a', 1000, 600)).toBeUndefined();
    expect(await acquireLease(db, 'sweep', 'b', 1000, 1599)).toMatchObject({ holder: 'a' });
    // Expired: the next one takes it.
    expect(await acquireLease(db, 'sweep', 'b', 1000, 1600)).toBeUndefined();
    // Only the holder releases it.
    await releaseLease(db, 'sweep', 'a');
    expect(await acquireLease(db, 'sweep', 'c', 1000, 1700)).toMatchObject({ holder: 'b' });
    await releaseLease(db, 'sweep', 'b');
    expect(await acquireLease(db, 'sweep', 'c', 1000, 1700)).toBeUndefined();
    // Names are independent.
    expect(await acquireLease(db, 'other', 'a', 1000, 1700)).toBeUndefined();
  });

  it('never has two holders, however acquire and release interleave across handles', async () => {
    const file = path.join(tempDir('leases'), 'dim.db');
    const handles = [await openTestStore(file), await openTestStore(file)];
    try {
      let holding: string | undefined;
      let wins = 0;
      const overlaps: string[] = [];
      const contend = async (holder: string, db: OpenedDb['db']) => {
        for (let i = 0; i < 60; i++) {
          if ((await acquireLease(db, 'race', holder, 60_000)) !== undefined) continue;
          if (holding !== undefined) overlaps.push(`${holder} while ${holding}`);
          holding = holder;
          wins++;
          await new Promise((r) => setImmediate(r));
          holding = undefined;
          await releaseLease(db, 'race', holder);
        }
      };
      await Promise.all(['a', 'b', 'c', 'd'].map((h, i) => contend(h, handles[i % 2]!.db)));
      expect(overlaps).toEqual([]);
      expect(wins).toBeGreaterThan(0);
    } finally {
      for (const h of handles) await h.close();
    }
  });
});
