import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { tempDir } from '../../test/support/dim-process';
import type { MigrationDb } from '../db';
import * as m001 from './001-initial';
import * as m002 from './002-telemetry';
import * as m003 from './003-recommendation-heads';
import * as m007 from './007-idempotency-scope';

describe('migration 007: Idempotency-Keys scoped to the caller', () => {
  it('keeps the recorded keys as anonymous and makes (caller, key) the primary key', async () => {
    const sqlite = new SQLite(path.join(tempDir('m007'), 'dim.db'));
    const db: MigrationDb = new Kysely({ dialect: new SqliteDialect({ database: sqlite }) });
    try {
      await m001.up(db);
      await m002.up(db);
      await m003.up(db);
      const old = (key: string, p: string, created_at: number) => ({
        key,
        method: 'POST',
        path: p,
        request_hash: 'h',
        status: 201,
        body: '{}',
        created_at,
      });
      // Before 007 a key was unique per endpoint: 'k' twice, on two endpoints.
      await db
        .insertInto('idempotency_keys')
        .values([old('k', '/datasets', 1), old('k', '/policies', 2), old('j', '/datasets', 3)])
        .execute();

      await m007.up(db);
      const rows = (await db
        .selectFrom('idempotency_keys')
        .select(['caller', 'key', 'path', 'created_at'])
        .orderBy('key')
        .execute()) as unknown[];
      expect(rows).toEqual([
        { caller: 'anonymous', key: 'j', path: '/datasets', created_at: 3 },
        { caller: 'anonymous', key: 'k', path: '/datasets', created_at: 1 },
      ]);
      // The same key is free for another caller, and taken for the same one.
      await db
        .insertInto('idempotency_keys')
        .values({ ...old('k', '/datasets', 4), caller: 'otto' })
        .execute();
      // (By code: better-sqlite3's error class is not always jest's realm's Error.)
      await expect(
        db
          .insertInto('idempotency_keys')
          .values({ ...old('k', '/jobs', 5), caller: 'otto' })
          .execute(),
      ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });

      await m007.down(db);
      expect(
        await db.selectFrom('idempotency_keys').select(['key', 'path']).orderBy('key').execute(),
      ).toEqual([
        { key: 'j', path: '/datasets' },
        { key: 'k', path: '/datasets' },
      ]);
    } finally {
      await db.destroy();
    }
  });
});
