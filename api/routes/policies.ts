import { z } from 'zod';
import { DimError, Errors } from '../../errors';
import {
  DEFAULT_POLICY_NAME,
  deletePolicy,
  getPolicy,
  listPolicies,
  policyUsers,
  putPolicy,
} from '../../store/policies';
import { parseApprovers } from '../../migrations';
import type { Db } from '../../store/db';
import type { Policy } from '../../store/schema';
import { iso, page, pageOf, pageQuery, type Routes } from '../route';
import { tierSchema } from './datasets';
import { bytesPerSecond } from './jobs';

/**
 * Policies: what placement and migration may do with the datasets that name them. A policy
 * named `default` applies to every dataset without one.
 */
const YEAR_S = 31_536_000;
const seconds = (what: string) =>
  z
    .number({ error: `must be a number of seconds (${what})` })
    .int('must be a whole number of seconds')
    .min(0, 'must not be negative')
    .max(10 * YEAR_S, `must be at most ${10 * YEAR_S} (ten years)`);

export const policyName = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'may hold letters, digits, ".", "_" and "-", starting with a letter or digit',
  );

export const PolicyBody = z
  .strictObject({
    name: policyName.describe(
      `Unique name; "${DEFAULT_POLICY_NAME}" applies to datasets without a policy`,
    ),
    latency_slo_ms: z
      .number({ error: 'must be a number of milliseconds' })
      .positive('must be positive')
      .max(86_400_000, 'must be at most one day (86400000 ms)')
      .nullable()
      .default(null)
      .describe('Tiers slower than this are not recommended'),
    pinned_tier: tierSchema
      .nullable()
      .default(null)
      .describe('Always recommend this tier, whatever the usage'),
    cost_target_usd_month: z
      .number({ error: 'must be a number of US dollars' })
      .min(0, 'must not be negative')
      .max(1e9, 'must be at most 1000000000')
      .nullable()
      .default(null)
      .describe('Prefer a cheaper tier when the projected monthly cost exceeds this'),
    min_residency_s: seconds('minimum time in a tier before moving again')
      .default(3600)
      .describe('A dataset stays at least this long in a tier (no flapping)'),
    hot_max_age_s: seconds('hot threshold')
      .default(60)
      .describe('Last access at most this long ago → hot'),
    warm_max_age_s: seconds('warm threshold')
      .default(600)
      .describe('Last access at most this long ago → warm; older → cold'),
    require_approval: z
      .boolean({ error: 'must be true or false' })
      .default(false)
      .describe('Migrations wait for an approve signal'),
    retire_source: z
      .boolean({ error: 'must be true or false' })
      .default(false)
      .describe('Delete the source after a verified switch'),
    retire_grace_s: seconds('grace period before the source is deleted').default(0),
    retire_linked_files: z
      .boolean({ error: 'must be true or false' })
      .default(false)
      .describe(
        'Retire may delete a source file that has other hard links (its data stays under the other names); otherwise such files are kept and listed',
      ),
    auto_apply: z
      .boolean({ error: 'must be true or false' })
      .default(false)
      .describe('The placement sweep may start migrations by itself'),
    max_moves_per_sweep: z
      .number({ error: 'must be a number of migrations' })
      .int('must be a whole number of migrations')
      .min(0, 'must not be negative')
      .max(10_000, 'must be at most 10000')
      .default(10)
      .describe(
        "Migrations one placement sweep may start for this policy's datasets (auto_apply); 0: none",
      ),
    max_bytes_per_day: z
      .number({ error: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(0, 'must not be negative')
      .max(Number.MAX_SAFE_INTEGER, `must be at most ${Number.MAX_SAFE_INTEGER}`)
      .nullable()
      .default(null)
      .describe(
        "Bytes the placement sweep may start moving for this policy's datasets in any 24 hours; null: no cap",
      ),
    max_bytes_per_s: bytesPerSecond
      .default(null)
      .describe(
        "Bandwidth limit of this policy's migrations, bytes per second (a plan's max_bytes_per_s overrides it); null: none",
      ),
    four_eyes: z
      .boolean({ error: 'must be true or false' })
      .default(false)
      .describe('The approver of a migration must be another caller than the one who planned it'),
    approvers: z
      .array(
        z
          .string({ error: 'must be an API key name' })
          .min(1, 'must not be empty')
          .max(100, 'must be at most 100 characters'),
        { error: 'must be a list of API key names' },
      )
      .max(100, 'must list at most 100 approvers')
      .default([])
      .describe('API key names allowed to approve migrations; empty: any operator'),
  })
  .refine((p) => p.warm_max_age_s >= p.hot_max_age_s, {
    path: ['warm_max_age_s'],
    message: 'must be at least hot_max_age_s',
  });

export const PolicyOut = z.object({
  name: z.string(),
  latency_slo_ms: z.number().nullable(),
  pinned_tier: tierSchema.nullable(),
  cost_target_usd_month: z.number().nullable(),
  min_residency_s: z.number(),
  hot_max_age_s: z.number(),
  warm_max_age_s: z.number(),
  require_approval: z.boolean(),
  retire_source: z.boolean(),
  retire_grace_s: z.number(),
  retire_linked_files: z.boolean(),
  auto_apply: z.boolean(),
  max_moves_per_sweep: z.number(),
  max_bytes_per_day: z.number().nullable(),
  max_bytes_per_s: z.number().nullable(),
  four_eyes: z.boolean(),
  approvers: z.array(z.string()),
  created_at: z.string(),
  updated_at: z.string(),
});

export function policyJson(p: Policy): z.infer<typeof PolicyOut> {
  return {
    name: p.name,
    latency_slo_ms: p.latency_slo_ms,
    pinned_tier: p.pinned_tier,
    cost_target_usd_month: p.cost_target_usd_month,
    min_residency_s: p.min_residency_s,
    hot_max_age_s: p.hot_max_age_s,
    warm_max_age_s: p.warm_max_age_s,
    require_approval: p.require_approval === 1,
    retire_source: p.retire_source === 1,
    retire_grace_s: p.retire_grace_s,
    retire_linked_files: p.retire_linked_files === 1,
    auto_apply: p.auto_apply === 1,
    max_moves_per_sweep: p.max_moves_per_sweep,
    max_bytes_per_day: p.max_bytes_per_day === null ? null : Number(p.max_bytes_per_day),
    max_bytes_per_s: p.max_bytes_per_s === null ? null : Number(p.max_bytes_per_s),
    four_eyes: p.four_eyes === 1,
    approvers: parseApprovers(p.approvers),
    created_at: iso(p.created_at)!,
    updated_at: iso(p.updated_at)!,
  };
}

const nameParam = z.object({ name: policyName });

export function registerPolicies(routes: Routes, deps: { db: Db }): void {
  const { db } = deps;

  routes.add(
    {
      method: 'get',
      path: '/policies',
      summary: 'List policies by name (cursor pagination)',
      tag: 'policies',
      role: 'viewer',
      query: pageQuery.extend({
        cursor: z.string().max(100).optional(),
      }),
      response: pageOf(PolicyOut),
    },
    async ({ query }) => {
      const rows = await listPolicies(db, { afterName: query.cursor, limit: query.limit + 1 });
      const p = page(rows, query.limit, (r) => r.name);
      return { body: { items: p.items.map(policyJson), next_cursor: p.next_cursor } };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/policies',
      summary:
        'Create a policy, or replace every value of the one with that name (omitted fields take their defaults)',
      tag: 'policies',
      role: 'admin',
      body: PolicyBody,
      response: PolicyOut,
      success: [200, 201],
    },
    async ({ body }) => {
      const { name, ...v } = body;
      const { policy, created } = await putPolicy(db, name, {
        latency_slo_ms: v.latency_slo_ms,
        pinned_tier: v.pinned_tier,
        cost_target_usd_month: v.cost_target_usd_month,
        min_residency_s: v.min_residency_s,
        hot_max_age_s: v.hot_max_age_s,
        warm_max_age_s: v.warm_max_age_s,
        require_approval: v.require_approval ? 1 : 0,
        retire_source: v.retire_source ? 1 : 0,
        retire_grace_s: v.retire_grace_s,
        retire_linked_files: v.retire_linked_files ? 1 : 0,
        auto_apply: v.auto_apply ? 1 : 0,
        max_moves_per_sweep: v.max_moves_per_sweep,
        max_bytes_per_day: v.max_bytes_per_day,
        max_bytes_per_s: v.max_bytes_per_s,
        four_eyes: v.four_eyes ? 1 : 0,
        approvers: JSON.stringify([...new Set(v.approvers)]),
      });
      return {
        status: created ? 201 : 200,
        body: policyJson(policy),
        headers: { Location: `/policies/${encodeURIComponent(name)}` },
      };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/policies/:name',
      summary: 'One policy',
      tag: 'policies',
      role: 'viewer',
      params: nameParam,
      response: PolicyOut,
    },
    async ({ params }) => {
      const p = await getPolicy(db, params.name);
      if (!p) throw Errors.notFound('policy', params.name);
      return { body: policyJson(p) };
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/policies/:name',
      summary: 'Delete a policy no dataset names',
      tag: 'policies',
      role: 'admin',
      params: nameParam,
    },
    async ({ params }) => {
      const p = await getPolicy(db, params.name);
      if (!p) throw Errors.notFound('policy', params.name);
      const users = await policyUsers(db, params.name);
      if (users > 0) {
        throw new DimError(
          'conflict',
          409,
          `policy "${params.name}" is used by ${users} dataset(s); change their policy first (PATCH /datasets/{id})`,
          'path.name',
        );
      }
      try {
        await deletePolicy(db, params.name);
      } catch (err) {
        // A dataset took the policy between the check and the delete (foreign key).
        if (/FOREIGN KEY/i.test((err as Error).message))
          throw Errors.conflict(`policy "${params.name}" is in use`, 'path.name');
        throw err;
      }
      return { status: 204 };
    },
  );
}
