import { sql } from 'kysely';
import type { MigrationDb } from '../db';

/**
 * The policy outranks the planner (invariant 10):
 * - policies: `four_eyes` (the approver must differ from the planner) and `approvers`
 *   (JSON array of caller names allowed to approve; [] = any operator).
 * - migration_jobs: the job row is the one record of a job's inputs, so the grace period and
 *   the approval rules in force when it was planned are kept on it (a retry or a later policy
 *   edit does not change a running job); and who approved, cancelled and retired it.
 */
export async function up(db: MigrationDb): Promise<void> {
  await db.schema
    .alterTable('policies')
    .addColumn('four_eyes', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('policies')
    .addColumn('approvers', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  for (const [name, type, dflt] of [
    ['retire_grace_s', 'integer', 0],
    ['four_eyes', 'integer', 0],
    ['approvers', 'text', '[]'],
    ['retire_linked_files', 'integer', 0],
  ] as const) {
    await db.schema
      .alterTable('migration_jobs')
      .addColumn(name, type, (c) => c.notNull().defaultTo(dflt))
      .execute();
  }
  for (const name of ['approved_by', 'cancelled_by', 'retired_by']) {
    await db.schema.alterTable('migration_jobs').addColumn(name, 'text').execute();
  }
  // Jobs planned before this migration took these from the policy when they ran.
  await sql`
    update migration_jobs set
      retire_grace_s = coalesce((
        select p.retire_grace_s from datasets d join policies p
          on p.name = coalesce(d.policy, 'default') where d.id = migration_jobs.dataset_id), 0),
      retire_linked_files = coalesce((
        select p.retire_linked_files from datasets d join policies p
          on p.name = coalesce(d.policy, 'default') where d.id = migration_jobs.dataset_id), 0)
  `.execute(db);
}

export async function down(db: MigrationDb): Promise<void> {
  for (const name of [
    'retire_grace_s',
    'four_eyes',
    'approvers',
    'approved_by',
    'cancelled_by',
    'retired_by',
    'retire_linked_files',
  ]) {
    await db.schema.alterTable('migration_jobs').dropColumn(name).execute();
  }
  await db.schema.alterTable('policies').dropColumn('four_eyes').execute();
  await db.schema.alterTable('policies').dropColumn('approvers').execute();
}
