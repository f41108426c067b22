import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { tempDir } from '../test/support/dim-process';
import { testDatabaseUrl, testSchemaName } from '../test/support/store';
import { configuredDatabase, openDatabase, type DatabaseTarget, type OpenedDb } from './db';

/**
 * Start-up migration on the project's backend: several processes that open one fresh
 * database at once apply every migration exactly once (on PostgreSQL under Kysely's
 * advisory lock, on SQLite under its write lock) and all start.
 */
jest.setTimeout(60_000);

describe('openDatabase', () => {
  it('picks PostgreSQL for DIM_DATABASE_URL, the SQLite file otherwise', () => {
    expect(configuredDatabase({ dbFile: '/d/dim.db', databaseUrl: undefined })).toBe('/d/dim.db');
    expect(configuredDatabase({ dbFile: '/d/dim.db', databaseUrl: 'postgres://h/db' })).toEqual({
      url: 'postgres://h/db',
    });
  });

  it('migrates a fresh database once when several processes start at once', async () => {
    const schema = testSchemaName();
    const target: DatabaseTarget = testDatabaseUrl
      ? { url: testDatabaseUrl, schema }
      : path.join(tempDir('migrate'), 'dim.db');
    const stores: OpenedDb[] = [];
    try {
      const root = path.resolve(__dirname, '..');
      const child = () =>
        promisify(execFile)(process.execPath, [
          '-r',
          path.join(root, 'test', 'support', 'register-ts.js'),
          path.join(root, 'test', 'support', 'open-store-child.ts'),
          JSON.stringify(target),
        ]);
      const opened = await Promise.allSettled(Array.from({ length: 4 }, child));
      expect(
        opened.map((o) => (o.status === 'fulfilled' ? o.value.stdout : String(o.reason))),
      ).toEqual(Array(4).fill('opened\n'));
      stores.push(await openDatabase(target));
      const db = stores[0]!.db;
      const { rows } = await sql<{
        name: string;
        n: number;
      }>`select name, count(*) as n from kysely_migration group by name order by name`.execute(db);
      expect(rows.length).toBeGreaterThanOrEqual(11);
      expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
      expect(rows[0]!.name).toBe('001-initial');
    } finally {
      if (testDatabaseUrl && stores[0])
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(stores[0].db);
      for (const s of stores) await s.close();
    }
  });
});
