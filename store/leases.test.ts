import type { OpenedDb } from './db';
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
});
