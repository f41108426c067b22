import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { tempDir } from '../../test/support/dim-process';
import type { Database } from '../schema';
import * as m001 from './001-initial';
import * as m002 from './002-telemetry';
import * as m003 from './003-recommendation-heads';
import * as m005 from './005-location-keys';

describe('migration 005: location keys', () => {
  it('backfills keys lexically, keeps one key per location, and makes keys unique', async () => {
    const sqlite = new SQLite(path.join(tempDir('m005'), 'dim.db'));
    sqlite.pragma('foreign_keys = ON');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    try {
      await m001.up(db);
      await m002.up(db);
      await m003.up(db);
      const uris = [
        'file:///shared_storage/a/../b',
        's3://bkt/data/',
        'file:///shared_storage/b/', // the same location as dataset 1
        'gs://bkt',
      ];
      await db
        .insertInto('datasets')
        .values(
          uris.map((path_uri, i) => ({
            id: i + 1,
            name: `ds-${i + 1}`,
            path_uri,
            current_tier: 'hot' as const,
            size_bytes: 1,
            object_count: 1,
            version: 1,
            last_access_ts: null,
            tier_since: 0,
            created_at: 0,
            updated_at: 0,
          })),
        )
        .execute();
      await db
        .insertInto('migration_jobs')
        .values({
          job_id: 'j1',
          job_key: 'k1',
          dataset_id: 2,
          source_uri: 's3://bkt/data/',
          dest_uri: 'gs://cold/data',
          dest_storage_class: 'COLDLINE',
          status: 'copying',
          workflow_id: 'migration-k1',
          requested_by: 'test',
          require_approval: 0,
          retire_source: 0,
          bytes_done: 0,
          bytes_total: 0,
          objects_done: 0,
          objects_total: 0,
          submitted_at: 0,
          updated_at: 0,
        })
        .execute();

      await m005.up(db);
      const keys = await db
        .selectFrom('datasets')
        .select(['id', 'location_key'])
        .orderBy('id')
        .execute();
      expect(keys).toEqual([
        { id: 1, location_key: 'file:/shared_storage/b/' },
        { id: 2, location_key: 's3:bkt/data/' },
        { id: 3, location_key: null },
        { id: 4, location_key: 'gs:bkt/' },
      ]);
      const audit = await db.selectFrom('audit_log').selectAll().execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ target: '/datasets/3' });
      expect(JSON.parse(audit[0]!.details)).toMatchObject({ same_location_as: 1 });
      expect(
        await db
          .selectFrom('migration_jobs')
          .select(['source_key', 'dest_key'])
          .executeTakeFirstOrThrow(),
      ).toEqual({ source_key: 's3:bkt/data/', dest_key: 'gs:cold/data/' });
      await expect(
        db
          .updateTable('datasets')
          .set({ location_key: 's3:bkt/data/' })
          .where('id', '=', 4)
          .execute(),
      ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    } finally {
      await db.destroy();
    }
  });
});
