import type SQLite from 'better-sqlite3';
import type { Db } from './db';

/**
 * Install-wide settings in the `install_settings` table: what every dim process of one
 * install must agree on and finds through the database they share.
 */

/** The setting's value; when it has none yet, `init()` is stored first (the first writer wins). */
export function settingOrInit(sqlite: SQLite.Database, name: string, init: () => string): string {
  const get = sqlite.prepare<[string], { value: string }>(
    'select value from install_settings where name = ?',
  );
  const found = get.get(name);
  if (found) return found.value;
  // Two processes starting at once: both insert, one wins, both read the winner.
  sqlite
    .prepare(
      'insert into install_settings (name, value, updated_at) values (?, ?, ?) on conflict (name) do nothing',
    )
    .run(name, init(), Date.now());
  return get.get(name)!.value;
}

export function setSetting(sqlite: SQLite.Database, name: string, value: string): void {
  sqlite
    .prepare(
      `insert into install_settings (name, value, updated_at) values (?, ?, ?)
       on conflict (name) do update set value = excluded.value, updated_at = excluded.updated_at
       where install_settings.value <> excluded.value`,
    )
    .run(name, value, Date.now());
}

/** `settingOrInit` through Kysely, on either backend (the bridge's start-up, PostgreSQL). */
export async function settingOrInitDb(db: Db, name: string, init: () => string): Promise<string> {
  const get = () =>
    db.selectFrom('install_settings').select('value').where('name', '=', name).executeTakeFirst();
  const found = await get();
  if (found) return found.value;
  await db
    .insertInto('install_settings')
    .values({ name, value: init(), updated_at: Date.now() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  return (await get())!.value;
}

/** `setSetting` through Kysely, on either backend. */
export async function setSettingDb(db: Db, name: string, value: string): Promise<void> {
  await db
    .insertInto('install_settings')
    .values({ name, value, updated_at: Date.now() })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet((eb) => ({
          value: eb.ref('excluded.value'),
          updated_at: eb.ref('excluded.updated_at'),
        }))
        .where('install_settings.value', '<>', (eb) => eb.ref('excluded.value')),
    )
    .execute();
}
