import path from 'node:path';
import { sql } from 'kysely';
import { tempDir } from '../test/support/dim-process';
import { insertDataset } from './datasets';
import type { OpenedDb } from './db';
import { openTestStore } from '../test/support/store';
import { putManifestRows, switchDataset, type ManifestRow } from './jobs';
import { insertJobIfFree } from './overlap';
import { datasetRow } from '../test/support/rows';

/**
 * The switch (invariants 1 and 2) on a real SQLite file and on PostgreSQL: it refuses while any object is
 * unverified, it is one transaction (a failure half-way leaves no trace), a reader on
 * another connection sees the old location or the new one with matching replicas, never a
 * mix, and running it again is a no-op.
 */
jest.setTimeout(30_000); // a shared, loaded machine: the default 5 s is too tight for file I/O

describe('switchDataset', () => {
  let store: OpenedDb;
  let file: string;
  let datasetId: number;
  const SRC = 'file:///shared_storage/src';
  const DST = 'file:///shared_storage/dst';
  const JOB = 'job-1';
  const row = (key: string, state: ManifestRow['state']): ManifestRow => ({
    key,
    size: 10,
    sha256: state === 'pending' ? null : 'ab'.repeat(32),
    state,
  });

  beforeEach(async () => {
    file = path.join(tempDir('switch'), 'dim.db');
    store = await openTestStore(file);
    const ds = await insertDataset(
      store.db,
      datasetRow('ds', SRC, { size_bytes: 20, object_count: 2 }),
    );
    datasetId = ds.id;
    await insertJobIfFree(store.db, {
      dest_key: 'file:/shared_storage/dst/',
      job_id: JOB,
      job_key: 'key-1',
      dataset_id: ds.id,
      source_uri: SRC,
      dest_uri: DST,
      dest_storage_class: 'standard',
      target_tier: 'cold',
      status: 'switching',
      workflow_id: 'migration-key-1',
      requested_by: 'test',
      require_approval: 0,
      retire_source: 0,
      bytes_done: 0,
      bytes_total: 20,
      objects_done: 0,
      objects_total: 2,
      error: null,
      run_id: null,
      recommendation_id: null,
      submitted_at: 0,
      updated_at: 0,
    });
  });
  afterEach(async () => {
    await store.close();
  });

  /** What a reader on its own connection sees: the dataset row and the primary replica. */
  async function readerView(reader: OpenedDb) {
    return reader.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => ({
        ds: await trx
          .selectFrom('datasets')
          .select(['path_uri', 'current_tier', 'version'])
          .where('id', '=', datasetId)
          .executeTakeFirstOrThrow(),
        primary: await trx
          .selectFrom('replicas')
          .select('uri')
          .where('dataset_id', '=', datasetId)
          .where('role', '=', 'primary')
          .execute(),
      }));
  }

  it('refuses while any object is unverified (the source stays primary)', async () => {
    await putManifestRows(store.db, JOB, [row('a', 'verified'), row('b', 'copied')]);
    expect(await switchDataset(store.db, JOB)).toEqual({ kind: 'not_verified', unverified: 1 });
    const reader = await openTestStore(file);
    try {
      expect(await readerView(reader)).toEqual({
        ds: { path_uri: SRC, current_tier: 'hot', version: 1 },
        primary: [],
      });
    } finally {
      await reader.close();
    }
  });

  /** Makes the switch's last statement (the destination's replica row) fail. */
  async function failPrimaryReplicaInserts(on: boolean) {
    if (store.dialect === 'sqlite') {
      store.sqlite.exec(
        on
          ? `create trigger fail_switch before insert on replicas when new.role = 'primary'
             begin select raise(abort, 'injected failure'); end`
          : 'drop trigger fail_switch',
      );
    } else if (on) {
      await sql`create function fail_switch() returns trigger language plpgsql as $$
        begin
          if new.role = 'primary' then raise exception 'injected failure'; end if;
          return new;
        end $$`.execute(store.db);
      await sql`create trigger fail_switch before insert on replicas
        for each row execute function fail_switch()`.execute(store.db);
    } else {
      await sql`drop trigger fail_switch on replicas`.execute(store.db);
    }
  }

  it('is one transaction: a failure half-way leaves the dataset and replicas as they were', async () => {
    await putManifestRows(store.db, JOB, [row('a', 'verified'), row('b', 'verified')]);
    await failPrimaryReplicaInserts(true);
    // The driver's error may come from another realm under jest: match its code.
    const outcome = await switchDataset(store.db, JOB).then(
      (r) => r,
      (e: unknown) => e,
    );
    expect(outcome).toMatchObject({
      code: store.dialect === 'sqlite' ? 'SQLITE_CONSTRAINT_TRIGGER' : 'P0001', // raise_exception
    });
    const reader = await openTestStore(file);
    try {
      expect(await readerView(reader)).toEqual({
        ds: { path_uri: SRC, current_tier: 'hot', version: 1 },
        primary: [],
      });
      expect(
        await reader.db
          .selectFrom('replicas')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirst(),
      ).toEqual({ n: 0 });
    } finally {
      await reader.close();
    }

    await failPrimaryReplicaInserts(false);
    const done = await switchDataset(store.db, JOB);
    expect(done).toMatchObject({ kind: 'switched', version: 2, objects: 2, bytes: 20 });
    const again = await switchDataset(store.db, JOB);
    expect(again).toMatchObject({ kind: 'already', version: 2 });
  });

  it('a reader sees the old location or the new one, never a mix', async () => {
    await putManifestRows(store.db, JOB, [row('a', 'verified'), row('b', 'verified')]);
    const reader = await openTestStore(file);
    const seen = new Set<string>();
    let switching = true;
    const watch = async () => {
      while (switching) {
        const v = await readerView(reader);
        seen.add(JSON.stringify(v));
        await new Promise((r) => setImmediate(r));
      }
    };
    try {
      const watching = watch();
      await switchDataset(store.db, JOB);
      switching = false;
      await watching;
      seen.add(JSON.stringify(await readerView(reader)));
    } finally {
      await reader.close();
    }
    const old = { ds: { path_uri: SRC, current_tier: 'hot', version: 1 }, primary: [] };
    const now = {
      ds: { path_uri: DST, current_tier: 'cold', version: 2 },
      primary: [{ uri: DST }],
    };
    for (const v of seen) expect([old, now]).toContainEqual(JSON.parse(v));
    expect(seen).toContain(JSON.stringify(now));
  });

  it('moves the location key with the pointer, and refuses a destination another dataset took', async () => {
    await putManifestRows(store.db, JOB, [row('a', 'verified'), row('b', 'verified')]);
    // A dataset inside the destination, written around the API's checks (invariant 9).
    const squatter = await insertDataset(store.db, datasetRow('squatter', `${DST}/inner`));
    expect(await switchDataset(store.db, JOB)).toMatchObject({
      kind: 'dest_overlaps',
      other: { id: squatter.id, name: 'squatter', relation: 'contains' },
    });
    const unchanged = await store.db
      .selectFrom('datasets')
      .select(['path_uri', 'version'])
      .where('id', '=', datasetId)
      .executeTakeFirstOrThrow();
    expect(unchanged).toEqual({ path_uri: SRC, version: 1 });

    await store.db.deleteFrom('datasets').where('id', '=', squatter.id).execute();
    expect(await switchDataset(store.db, JOB)).toMatchObject({ kind: 'switched', version: 2 });
    const moved = await store.db
      .selectFrom('datasets')
      .select(['path_uri', 'location_key'])
      .where('id', '=', datasetId)
      .executeTakeFirstOrThrow();
    // The job has no dest_key (planned around the service): its lexical key stands in.
    expect(moved).toEqual({ path_uri: DST, location_key: 'file:/shared_storage/dst/' });
  });
});
