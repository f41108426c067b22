import { z } from 'zod';
import { DimError, Errors } from '../../errors';
import { describeRelation } from '../../storage/location-key';
import { emptyUsage, getDataset, listDatasets, usageOf, type Usage } from '../../store/datasets';
import type { Db } from '../../store/db';
import { registerDataset, uniqueViolation, type RegisterOutcome } from '../../store/overlap';
import type { Dataset } from '../../store/schema';
import { storageUriMeta } from '../openapi';
import { idParam, iso, page, pageOf, pageQuery, type Routes } from '../route';

/** Checks a storage URI (scheme, roots, endpoints) and returns it normalized, or throws. */
export type LocationCheck = (uri: string, field: string) => Promise<string>;

/**
 * `LocationCheck` for a dataset's own location (storage/location.ts `checkDatasetLocation`):
 * also refuses a whole root or bucket, and returns the canonical key the overlap check uses.
 */
export type DatasetLocationCheck = (
  uri: string,
  field: string,
) => Promise<{ uri: string; key: string }>;

export const tierSchema = z.enum(['hot', 'warm', 'cold']);
const MAX_BYTES = Number.MAX_SAFE_INTEGER; // 8 PiB: anything larger is a mistake, not a dataset

const name = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'may hold letters, digits, ".", "_" and "-", starting with a letter or digit',
  );
const sizeBytes = z
  .number({ error: 'must be a number of bytes' })
  .min(0, 'must not be negative')
  .max(MAX_BYTES, `must be at most ${MAX_BYTES}`)
  .int('must be a whole number of bytes'); // after max: 1e30 is "too large", not "not whole"
const latency = z
  .number({ error: 'must be a number of milliseconds' })
  .positive('must be positive')
  .max(86_400_000, 'must be at most one day (86400000 ms)');
const owner = z.string().min(1).max(200, 'must be at most 200 characters');
const policyName = z.string().min(1).max(100, 'must be at most 100 characters');

export const DatasetCreate = z.strictObject({
  name,
  path_uri: z
    .string({ error: 'must be a storage URI such as file:///data/x' })
    .min(1, 'must not be empty')
    .max(2000)
    .meta(storageUriMeta),
  size_bytes: sizeBytes.default(0),
  object_count: z.number().int().min(0, 'must not be negative').max(1e12).default(0),
  current_tier: tierSchema.default('hot'),
  latency_slo_ms: latency.nullable().optional(),
  owner: owner.nullable().optional(),
  policy: policyName.nullable().optional(),
});

export const DatasetPatch = z
  .strictObject({
    name: name.optional(),
    size_bytes: sizeBytes.optional(),
    object_count: z.number().int().min(0).max(1e12).optional(),
    latency_slo_ms: latency.nullable().optional(),
    owner: owner.nullable().optional(),
    policy: policyName.nullable().optional(),
    path_uri: z
      .never({ error: 'changes only through a migration: POST /plan-migration' })
      .optional(),
    current_tier: z
      .never({ error: 'changes only through a migration: POST /plan-migration' })
      .optional(),
  })
  .refine((p) => Object.keys(p).length > 0, { message: 'must change at least one field' })
  .meta({ minProperties: 1 });

const UsageSchema = z.object({
  read_count: z.number(),
  write_count: z.number(),
  bytes_read: z.number(),
  bytes_written: z.number(),
  last_access_ts: z.string().nullable(),
  mean_client_lat_ms: z.number().nullable(),
});

export const DatasetOut = z.object({
  id: z.number(),
  name: z.string(),
  path_uri: z.string(),
  current_tier: tierSchema,
  latency_slo_ms: z.number().nullable(),
  size_bytes: z.number(),
  object_count: z.number(),
  owner: z.string().nullable(),
  policy: z.string().nullable(),
  version: z.number(),
  last_access_ts: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  usage: UsageSchema,
});

export function datasetJson(d: Dataset, usage: Usage = emptyUsage): z.infer<typeof DatasetOut> {
  return {
    id: d.id,
    name: d.name,
    path_uri: d.path_uri,
    current_tier: d.current_tier,
    latency_slo_ms: d.latency_slo_ms,
    size_bytes: Number(d.size_bytes),
    object_count: d.object_count,
    owner: d.owner,
    policy: d.policy,
    version: d.version,
    last_access_ts: iso(usage.last_access_ts ?? d.last_access_ts),
    created_at: iso(d.created_at)!,
    updated_at: iso(d.updated_at)!,
    usage: { ...usage, last_access_ts: iso(usage.last_access_ts) },
  };
}

async function checkPolicy(db: Db, policy: string | null | undefined) {
  if (!policy) return;
  const found = await db
    .selectFrom('policies')
    .select('name')
    .where('name', '=', policy)
    .executeTakeFirst();
  if (!found)
    throw Errors.invalid('body.policy', `no policy named "${policy}" (see GET /policies)`);
}

/** Why a registration was refused, as the 409 the caller gets (invariant 9). */
function refusal(out: Exclude<RegisterOutcome, { kind: 'created' }>, uri: string): DimError {
  switch (out.kind) {
    case 'name_taken':
      return nameTaken(out.other.name, out.other.id);
    case 'overlaps_dataset': {
      const o = out.other;
      return new DimError(
        'overlap',
        409,
        `body.path_uri: ${uri} ${describeRelation(out.other.relation)} dataset ${o.id} "${o.name}" (${o.path_uri}); datasets may not overlap: choose a location outside it`,
        'body.path_uri',
        { dataset: { id: o.id, name: o.name, path_uri: o.path_uri }, relation: o.relation },
      );
    }
    case 'overlaps_migration': {
      const j = out.job;
      return new DimError(
        'overlap',
        409,
        `body.path_uri: ${uri} overlaps ${j.uri}, the ${j.end === 'dest' ? 'destination' : 'source'} of migration job ${j.job_id} of dataset ${j.dataset_id} (${j.status}); wait for it to end or choose another location`,
        'body.path_uri',
        { job_id: j.job_id, dataset_id: j.dataset_id, relation: j.relation },
      );
    }
  }
}

const nameTaken = (name: string, id: number) =>
  Errors.conflict(`a dataset named "${name}" exists already (id ${id})`, 'body.name');

async function checkNameFree(db: Db, name: string, exceptId?: number) {
  let q = db.selectFrom('datasets').select('id').where('name', '=', name);
  if (exceptId) q = q.where('id', '!=', exceptId);
  const taken = await q.executeTakeFirst();
  if (taken) throw nameTaken(name, taken.id);
}

export async function loadDataset(db: Db, id: number): Promise<Dataset> {
  const d = await getDataset(db, id);
  if (!d) throw Errors.notFound('dataset', id);
  return d;
}

export function registerDatasets(
  routes: Routes,
  deps: { db: Db; datasetLocation: DatasetLocationCheck },
): void {
  const { db } = deps;

  routes.add(
    {
      method: 'post',
      path: '/datasets',
      summary: 'Register a dataset (everything under path_uri)',
      tag: 'datasets',
      role: 'operator',
      body: DatasetCreate,
      response: DatasetOut,
      success: [201],
    },
    async ({ body }) => {
      const loc = await deps.datasetLocation(body.path_uri, 'body.path_uri');
      await checkPolicy(db, body.policy);
      const t = Date.now();
      // The name and overlap checks and the insert are one transaction (store/overlap.ts).
      const out = await registerDataset(db, {
        name: body.name,
        path_uri: loc.uri,
        location_key: loc.key,
        current_tier: body.current_tier,
        latency_slo_ms: body.latency_slo_ms ?? null,
        size_bytes: body.size_bytes,
        object_count: body.object_count,
        owner: body.owner ?? null,
        policy: body.policy ?? null,
        version: 1,
        last_access_ts: null,
        tier_since: t,
        created_at: t,
        updated_at: t,
      }).catch((err: unknown) => {
        // The UNIQUE indexes are the backstop: a violation is a 409, never a 500.
        const column = uniqueViolation(err);
        if (column === 'datasets.name')
          throw Errors.conflict(`a dataset named "${body.name}" exists already`, 'body.name');
        if (column === 'datasets.location_key')
          throw Errors.conflict(
            `body.path_uri: ${loc.uri} is the location of another dataset`,
            'body.path_uri',
          );
        // Another process held the write lock past busy_timeout: worth a retry, not a 500.
        if ((err as { code?: unknown }).code === 'SQLITE_BUSY')
          throw Errors.unavailable('the metadata database is busy; retry shortly', 1);
        throw err;
      });
      if (out.kind !== 'created') throw refusal(out, loc.uri);
      const d = out.dataset;
      return { status: 201, body: datasetJson(d), headers: { Location: `/datasets/${d.id}` } };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/datasets',
      summary: 'List datasets (filter by tier, owner, policy, name; cursor pagination)',
      tag: 'datasets',
      role: 'viewer',
      query: pageQuery.extend({
        tier: tierSchema.optional(),
        owner: z.string().min(1).optional(),
        policy: z.string().min(1).optional(),
        name: z.string().min(1).optional(),
      }),
      response: pageOf(DatasetOut),
    },
    async ({ query }) => {
      const rows = await listDatasets(db, {
        tier: query.tier,
        owner: query.owner,
        policy: query.policy,
        name: query.name,
        afterId: query.cursor ? Number(query.cursor) : undefined,
        limit: query.limit + 1,
      });
      const p = page(rows, query.limit, (d) => d.id);
      const usage = await usageOf(
        db,
        p.items.map((d) => d.id),
      );
      return {
        body: {
          items: p.items.map((d) => datasetJson(d, usage.get(d.id))),
          next_cursor: p.next_cursor,
        },
      };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/datasets/:id',
      summary: 'One dataset with its usage',
      tag: 'datasets',
      role: 'viewer',
      params: idParam,
      response: DatasetOut,
    },
    async ({ params }) => {
      const d = await loadDataset(db, params.id);
      const usage = await usageOf(db, [d.id]);
      return { body: datasetJson(d, usage.get(d.id)) };
    },
  );

  routes.add(
    {
      method: 'patch',
      path: '/datasets/:id',
      summary:
        'Change a dataset’s name, size, owner, latency SLO or policy (its location changes only through a migration)',
      tag: 'datasets',
      role: 'operator',
      params: idParam,
      body: DatasetPatch,
      response: DatasetOut,
    },
    async ({ params, body }) => {
      await loadDataset(db, params.id);
      if (body.name) await checkNameFree(db, body.name, params.id);
      await checkPolicy(db, body.policy);
      const d = await db
        .updateTable('datasets')
        .set({ ...body, updated_at: Date.now() })
        .where('id', '=', params.id)
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch((err: unknown) => {
          // A rename racing another: the UNIQUE index answers, as a 409 naming the field.
          if (uniqueViolation(err) === 'datasets.name')
            throw Errors.conflict(`a dataset named "${body.name}" exists already`, 'body.name');
          throw err;
        });
      const usage = await usageOf(db, [d.id]);
      return { body: datasetJson(d, usage.get(d.id)) };
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/datasets/:id',
      summary: 'Forget a dataset (its data stays where it is)',
      tag: 'datasets',
      role: 'operator',
      params: idParam,
    },
    async ({ params }) => {
      await loadDataset(db, params.id);
      const active = await db
        .selectFrom('migration_jobs')
        .select(['job_id', 'status'])
        .where('dataset_id', '=', params.id)
        .where('status', 'not in', ['completed', 'failed', 'cancelled', 'enqueue_failed'])
        .executeTakeFirst();
      if (active) {
        throw new DimError(
          'conflict',
          409,
          `dataset ${params.id} has a migration in progress (job ${active.job_id}, ${active.status}); cancel it first`,
        );
      }
      await db.transaction().execute(async (trx) => {
        await trx
          .deleteFrom('migration_objects')
          .where(
            'job_id',
            'in',
            trx.selectFrom('migration_jobs').select('job_id').where('dataset_id', '=', params.id),
          )
          .execute();
        await trx.deleteFrom('migration_jobs').where('dataset_id', '=', params.id).execute();
        await trx.deleteFrom('datasets').where('id', '=', params.id).execute();
      });
      return { status: 204 };
    },
  );
}
