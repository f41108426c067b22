import type { Db } from './db';
import type { Policy, PoliciesTable } from './schema';

/** Placement and migration policies, by name. A policy named `default` applies to datasets without one. */
export const DEFAULT_POLICY_NAME = 'default';

export type PolicyValues = Omit<
  PoliciesTable,
  | 'name'
  | 'created_at'
  | 'updated_at'
  | 'retire_linked_files'
  | 'max_moves_per_sweep'
  | 'max_bytes_per_day'
  | 'max_bytes_per_s'
> & {
  /** Default 0: retire keeps source files with other hard links. */
  retire_linked_files?: number;
  /** Default 10. */
  max_moves_per_sweep?: number;
  /** Default null: no daily cap. */
  max_bytes_per_day?: number | null;
  /** Default null: the policy's migrations have no bandwidth limit of their own. */
  max_bytes_per_s?: number | null;
};

export async function getPolicy(db: Db, name: string): Promise<Policy | undefined> {
  return db.selectFrom('policies').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function listPolicies(
  db: Db,
  f: { afterName?: string; limit: number },
): Promise<Policy[]> {
  let q = db.selectFrom('policies').selectAll().orderBy('name').limit(f.limit);
  if (f.afterName !== undefined) q = q.where('name', '>', f.afterName);
  return q.execute();
}

/** Creates the policy or replaces every value of an existing one. */
export async function putPolicy(
  db: Db,
  name: string,
  values: PolicyValues,
  now = Date.now(),
): Promise<{ policy: Policy; created: boolean }> {
  return db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('policies')
      .select('created_at')
      .where('name', '=', name)
      .executeTakeFirst();
    const policy = await trx
      .insertInto('policies')
      .values({ name, ...values, created_at: existing?.created_at ?? now, updated_at: now })
      .onConflict((oc) => oc.column('name').doUpdateSet({ ...values, updated_at: now }))
      .returningAll()
      .executeTakeFirstOrThrow();
    return { policy, created: !existing };
  });
}

/** Datasets that name the policy (a policy in use cannot be deleted). */
export async function policyUsers(db: Db, name: string): Promise<number> {
  const r = await db
    .selectFrom('datasets')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('policy', '=', name)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function deletePolicy(db: Db, name: string): Promise<void> {
  await db.deleteFrom('policies').where('name', '=', name).execute();
}
