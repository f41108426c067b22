import type SQLite from 'better-sqlite3';

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
