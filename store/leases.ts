import type { Db } from './db';

/**
 * Named leases: at most one holder of a name at a time, across every process that shares
 * the database, until the lease expires (so a holder killed with kill -9 does not block the
 * name for ever). Taken with one conditional upsert, which SQLite and PostgreSQL both run
 * atomically.
 */
export interface Lease {
  name: string;
  holder: string;
  expires_at: number;
}

/**
 * Takes the lease for `ttlMs` if it is free or expired (or already ours). Returns undefined
 * when taken, else the lease that holds the name.
 */
export async function acquireLease(
  db: Db,
  name: string,
  holder: string,
  ttlMs: number,
  now = Date.now(),
): Promise<Lease | undefined> {
  for (;;) {
    const won = await db
      .insertInto('leases')
      .values({ name, holder, expires_at: now + ttlMs })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder, expires_at: now + ttlMs })
          .where((eb) =>
            eb.or([eb('leases.expires_at', '<=', now), eb('leases.holder', '=', holder)]),
          ),
      )
      .returning('holder')
      .executeTakeFirst();
    if (won) return undefined;
    const other = await db
      .selectFrom('leases')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    // Released between the two statements: not ours yet, so try again (never report a
    // lease we did not take as taken).
    if (other) return other;
  }
}

/** Gives the lease back, if `holder` still holds it. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
}
